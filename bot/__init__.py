"""newsbot's Discord front end: it renders `rag` answers and never touches the store or the model itself."""
