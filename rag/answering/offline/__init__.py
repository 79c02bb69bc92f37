"""The offline extractive answerer behind the stub model: reader (the prompt back into passages), ranker, answer
(part by part), regroup (the reply's layout, checked lines back under their parts), rules (how strict it is)."""
