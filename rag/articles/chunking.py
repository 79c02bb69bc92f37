"""Article → token-aware chunks with stable ids, character offsets and the metadata Chroma filters on."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.articles.article import Article
from rag.embeddings.minilm import load_tokenizer
from rag.text import date_to_int


@dataclass(frozen=True)
class Chunk:
    """A slice of one article's body; `text == article.body[start:end]`."""

    chunk_id: str
    article_id: str
    index: int
    text: str
    start: int
    end: int
    metadata: dict


@lru_cache(maxsize=8)
def make_splitter(chunk_tokens: int = 256, overlap: int = 32) -> RecursiveCharacterTextSplitter:
    """A LangChain splitter that measures length in MiniLM word-piece tokens (the embedder's own)."""
    tokenizer = load_tokenizer()

    # The splitter measures every piece two or three times (when splitting, merging and popping the overlap),
    # and tokenising was most of the chunking time; a small memo makes it once per piece.
    @lru_cache(maxsize=4096)
    def n_tokens(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens, chunk_overlap=overlap, length_function=n_tokens,
        separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
        keep_separator="end", add_start_index=True, strip_whitespace=True,
    )


def chunk_id(article: Article, index: int) -> str:
    """`article:version:index`: the version (a prefix of the content hash) keeps an update's new vectors apart from
    the old ones until the registry switches versions. Stores written before versions keep `article:index` ids."""
    return f"{new_version_id(article.article_id, article.content_hash)}:{index:04d}"


def chunk_article(article: Article, chunk_tokens: int = 256, overlap: int = 32) -> list[Chunk]:
    """Split one article; offsets point into `article.body` so quotes stay verbatim."""
    splitter = make_splitter(chunk_tokens, overlap)
    docs = splitter.create_documents([article.body])
    chunks: list[Chunk] = []
    cursor = 0
    for i, doc in enumerate(docs):
        text = doc.page_content
        start = doc.metadata.get("start_index", -1)
        if start < 0 or article.body[start:start + len(text)] != text:
            start = article.body.find(text, max(0, cursor - len(text)))
        cursor = start + len(text)
        meta = {
            "article_id": article.article_id,
            "title": article.title,
            "published": date_to_int(article.published),
            "chunk_index": i,
            "start": start,
            "end": start + len(text),
            "content_hash": article.content_hash,
        }
        # Chroma metadata cannot hold None: unknown fields are simply absent.
        if article.source:
            meta["source"] = article.source
        if article.url:
            meta["url"] = article.url
        if article.original_title:
            meta["original_title"] = article.original_title
        chunks.append(Chunk(chunk_id(article, i), article.article_id, i, text, start, start + len(text), meta))
    return chunks


def new_version_id(article_id: str, content_hash: str) -> str:
    """A stored version's id, `article:version` (the version: the content hash's first 12 hex digits); its chunk
    ids are `<version id>:<index>` (rag/articles/chunking.py). Versions migrated from schema 1 keep their article id as
    version id and their chunk ids as they were (`article:index`, or already `article:version:index`)."""
    return f"{article_id}:{content_hash[:12]}"
