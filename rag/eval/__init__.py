"""Evaluation, run only by `newsbot eval …`: retrieval on MultiHop-RAG (`retrieval.py`), story grouping against
hand labels (`stories.py`), the citation check on perturbed claims (`claims.py`), follow matching (`follows.py`).
"""
