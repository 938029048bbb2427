"""Search that forgives OCR: compact, folded and CJK forms of every text, full text over raw_text too,
and a vocabulary of the words found, for per-word typo matching.

On ``regions`` and ``text_tracks`` (generated columns, so every write path and COPY fills them):

* ``compact``: NFKC, lowercase, whitespace and punctuation removed (``Suke hiro`` -> ``sukehiro``);
* ``folded``: the compact form with the recogniser's usual confusions made one character
  (``lnvoice`` and ``Invoice`` -> ``lnvolce``; the classes {i l 1 | !} {o 0} {s 5} {b 8} {z 2}),
  trigram-indexed: it serves substring matching of
  both forms (a compact match is a folded match);
* ``cjk``: the distinct two-character substrings of the CJK runs (NULL when there are none),
  GIN-indexed, because two characters make no trigram;
* ``tsv``: now over ``text`` and ``raw_text`` (the recogniser's string before word spacing).

``regions.time_s`` (its frame's time, for time filters without a join) and ``text_tracks.raw_text`` are
new (``raw_text``: the raw string of the track's best reading). ``search_words`` holds the
distinct words (3-32 characters) of all regions (``dva_words``); typo matching looks a mistyped query
word up there. It is filled here and then by ``dva_ocr.search.vocabulary`` when a media item's tracks
are built (one sorted statement per item, so concurrent writers cannot deadlock on it, as a trigger
firing per INSERT batch did). The old trigram indexes on ``text`` go: nothing uses them now.

The fold rules are measured in ``dva_ocr/search/MEASUREMENTS.md``; ``dva_ocr/search/forms.py``
mirrors these functions in Python (a test holds the two equal).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"

FUNCTIONS = [
    r"""
CREATE FUNCTION dva_compact(s text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN lower(regexp_replace(normalize(s, NFKC), '[[:space:][:punct:]]+', '', 'g'))
""",
    r"""
CREATE FUNCTION dva_fold(s text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN translate(dva_compact(replace(replace(s, '|', 'l'), '!', 'l')), 'i10582', 'llosbz')
""",
    rf"""
CREATE FUNCTION dva_cjk_bigrams(s text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN s ~ '[{CJK}]' THEN (
    SELECT array_agg(DISTINCT g ORDER BY g)
    FROM (SELECT dva_compact(s) AS c) AS x, generate_series(1, length(x.c) - 1) AS i,
         LATERAL substr(x.c, i, 2) AS g
    WHERE g ~ '^[{CJK}]{{2}}$'
) END
""",
    r"""
CREATE FUNCTION dva_words(s text) RETURNS SETOF text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT w FROM regexp_split_to_table(lower(normalize(s, NFKC)), '[^[:alnum:]]+') AS w
    WHERE length(w) BETWEEN 3 AND 32
$$
""",
]


def _tsv(raw: str) -> str:
    return (
        f"CASE WHEN {raw} = text THEN to_tsvector('english'::regconfig, text)"
        f" ELSE to_tsvector('english'::regconfig, text) || to_tsvector('english'::regconfig, {raw}) END"
    )


def upgrade() -> None:
    for fn in FUNCTIONS:
        op.execute(fn)
    op.add_column("text_tracks", sa.Column("raw_text", sa.Text, nullable=False, server_default=""))
    # a region's frame time, so that a time filter needs no join with frames
    op.add_column("regions", sa.Column("time_s", sa.Float, nullable=True))
    op.execute("UPDATE regions AS r SET time_s = f.time_s FROM frames AS f WHERE f.id = r.frame_id")
    op.alter_column("regions", "time_s", nullable=False)
    for table in ("regions", "text_tracks"):
        op.drop_index(f"ix_{table}_text_trgm", table_name=table)
        op.drop_index(f"ix_{table}_tsv", table_name=table)
        op.drop_column(table, "tsv")
        raw = "raw_text" if table == "regions" else "coalesce(nullif(raw_text, ''), text)"
        op.add_column(
            table, sa.Column("tsv", sa.dialects.postgresql.TSVECTOR, sa.Computed(_tsv(raw), persisted=True))
        )
        op.add_column(table, sa.Column("compact", sa.Text, sa.Computed("dva_compact(text)", persisted=True)))
        op.add_column(table, sa.Column("folded", sa.Text, sa.Computed("dva_fold(text)", persisted=True)))
        op.add_column(
            table, sa.Column("cjk", sa.ARRAY(sa.Text), sa.Computed("dva_cjk_bigrams(text)", persisted=True))
        )
        op.create_index(f"ix_{table}_tsv", table, ["tsv"], postgresql_using="gin")
        op.create_index(
            f"ix_{table}_folded_trgm",
            table,
            ["folded"],
            postgresql_using="gin",
            postgresql_ops={"folded": "gin_trgm_ops"},
        )
        op.create_index(f"ix_{table}_cjk", table, ["cjk"], postgresql_using="gin")

    op.create_table("search_words", sa.Column("word", sa.Text, primary_key=True))
    op.create_index(
        "ix_search_words_trgm",
        "search_words",
        ["word"],
        postgresql_using="gin",
        postgresql_ops={"word": "gin_trgm_ops"},
    )
    # what dva_ocr.search.vocabulary does for each media item when its tracks are built
    op.execute(
        "INSERT INTO search_words (word) SELECT DISTINCT sw.word FROM regions AS r,"
        " dva_words(r.text || ' ' || r.raw_text) AS sw(word) ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    op.drop_table("search_words")
    for table in ("regions", "text_tracks"):
        for col in ("cjk", "folded", "compact", "tsv"):
            op.drop_column(table, col)  # their indexes go with them
        op.add_column(
            table,
            sa.Column(
                "tsv",
                sa.dialects.postgresql.TSVECTOR,
                sa.Computed("to_tsvector('english'::regconfig, text)", persisted=True),
            ),
        )
        op.create_index(f"ix_{table}_tsv", table, ["tsv"], postgresql_using="gin")
        op.create_index(
            f"ix_{table}_text_trgm",
            table,
            ["text"],
            postgresql_using="gin",
            postgresql_ops={"text": "gin_trgm_ops"},
        )
    op.drop_column("text_tracks", "raw_text")
    op.drop_column("regions", "time_s")
    for fn in ("dva_words(text)", "dva_cjk_bigrams(text)", "dva_fold(text)", "dva_compact(text)"):
        op.execute(f"DROP FUNCTION {fn}")
