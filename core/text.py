"""Text from a file, the address or the store, made safe to put inside Markdown (pure functions).

Streamlit renders st.markdown, st.caption, st.warning, headings, widget labels and progress text
as GitHub-flavoured Markdown, so an id, a note, a dataset name or an error message shown in one
of them could otherwise add a link, a remote image, HTML or formatting to the page. ``plain``
turns such text into Markdown that shows exactly that text:

- every character that starts Markdown, HTML or Streamlit syntax (links and images, emphasis,
  code, tables, LaTeX, entities, tags) is escaped with a backslash, as CommonMark allows for any
  ASCII punctuation, and a list, heading or quote marker at the start is escaped too;
- GitHub's bare-URL autolinks (``http://``, ``https://``, ``www.``, ``name@host``) ignore
  backslash escapes, so a WORD JOINER (U+2060, invisible) is put inside each one's marker;
- line breaks and other control characters become spaces, so the text stays on its line, and
  spaces around it go (four at the start would make a code block).
"""

from __future__ import annotations

import re

# Characters that begin Markdown, HTML or Streamlit syntax anywhere in a line.
ESCAPED = frozenset("\\`*_[]<>&~|$!#{}")
# Block markers that count only at the start of a line: a list, a heading underline.
LEADING = frozenset("-+=")
WORD_JOINER = "\u2060"
# Where GitHub-flavoured Markdown would start a bare-URL autolink: after the scheme, after "www",
# after the "@" of an address.
AUTOLINK = re.compile(r"(?i)(?<=https)(?=:)|(?<=http)(?=:)|(?<=www)(?=\.)|(?<=@)")
ORDERED_LIST = re.compile(r"^(\d+)([.)])")
CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def plain(text: object) -> str:
    """``text`` (any value, as ``str`` shows it) as Markdown that renders as exactly that text, on one line."""
    value = AUTOLINK.sub(WORD_JOINER, CONTROL.sub(" ", str(text)).strip())
    value = "".join(f"\\{c}" if c in ESCAPED else c for c in value)
    if value[:1] in LEADING:
        value = "\\" + value
    return ORDERED_LIST.sub(r"\1\\\2", value)


def plain_lines(text: object) -> str:
    """Several lines of ``text`` (a message with one line per problem), each as ``plain``, kept apart."""
    return "\n\n".join(plain(line) for line in str(text).splitlines() if line.strip()) or plain(text)
