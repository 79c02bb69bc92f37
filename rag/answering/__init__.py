"""Answering: a question and its passages -> an `Answer` whose every `[n]` was checked against passage n.

- `query.py`: `Query` (question, dates, outlet, libraries) and the question's validation.
- `chain.py`: the retrieval chain (LangChain Runnables): passages -> prompt -> model -> checked citations.
- `prompt_safety.py`: passages numbered and escaped for the prompt; prompt leaks stripped from replies.
- `citations.py`: the citation check and renumbering; `claims.py` (claims held by a sentence: words, polarity,
  names, roles) and `quantities.py` (numbers, amounts, dates) are its rules.
- `parts.py`: a question of several parts (outlets, conjoined questions) retrieved and answered part by part.
- `followup.py`: a follow-up rewritten as a standalone question.
- `models.py`: the one place a model is chosen (the offline stub or an OpenAI-compatible server).
- `offline/`: the extractive stub model: reader, ranker, regroup, and its rules.
"""
