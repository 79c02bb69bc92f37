"""Articles: files, pages and records -> `Article`, then chunks.

- `article.py`: `Article`, `LoadFailure`, `make_article` (the limits every article meets), `parse_date`.
- `loaders.py`: paths and folders -> articles (`load_paths`), choosing a format by suffix.
- `formats.py`: the seed, text, HTML (trafilatura), JSON and JSONL formats; `decode.py`: bytes -> text.
- `pdf.py` with `pdf_child.py`: PDFs read in a child process with page, character and time caps.
- `chunking.py`: an article -> ~256-token chunks with stable ids; `headlines.py`: a headline when the title is none.
"""
