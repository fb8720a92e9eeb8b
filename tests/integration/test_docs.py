"""The documentation agrees with itself and with the code: every setting
is in etc/rosterd.conf, rosterd.conf(5) and common/conf.c alike; every
relative link of the Markdown pages leads somewhere; the README keeps the
two set-up commands; the man pages format without a warning; the Python
the docs give an app runs as written.  Reads files only: no build
needed."""
import glob
import json
import os
import re
import shutil
import subprocess

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(*path):
    with open(os.path.join(TOP, *path), encoding="utf-8") as f:
        return f.read()


def settings(path, section_line, key_line):
    """(section, key) of every key line under a section line of a file;
    a section line whose group is None ends the section."""
    out, section = set(), None
    for line in read(*path).splitlines():
        m = re.match(section_line, line)
        if m:
            section = m.group(1)
        m = re.match(key_line, line)
        if m and section:
            out.add((section, m.group(1)))
    return out


def shipped_settings():
    """Every setting of etc/rosterd.conf: KEY = under [SECTION]."""
    return settings(("etc", "rosterd.conf"), r"^\[(\w+)\]\s*$",
                    r"^(\w+)\s*=")


def manual_settings():
    """Every setting rosterd.conf(5) describes: .It Ic KEY No = under
    .Ss [SECTION]."""
    return settings(("doc", "rosterd.conf.5"), r"^\.S[sh] (?:\[(\w+)\])?",
                    r"^\.It Ic (\w+) No =")


def accepted_settings():
    """(section, key) of every entry of the key table in common/conf.c."""
    text = read("common", "conf.c")
    return set(re.findall(r'\{\s*"(\w+)",\s*"(\w+)",\s*CT_\w+', text))


def test_the_shipped_file_and_the_manual_name_the_same_settings():
    shipped, manual = shipped_settings(), manual_settings()
    assert len(shipped) > 40, shipped
    assert shipped - manual == set(), "not in doc/rosterd.conf.5"
    assert manual - shipped == set(), "not in etc/rosterd.conf"


def test_the_documented_settings_are_those_rosterd_accepts():
    accepted = accepted_settings()
    assert accepted, "no key table found in common/conf.c: update this test"
    assert accepted - shipped_settings() == set(), "undocumented"
    assert shipped_settings() - accepted == set(), "documented, not accepted"


def markdown_pages():
    pages = ["README.md", "BENCHMARKS.md", "tests/README.md"]
    pages += [os.path.relpath(p, TOP)
              for p in sorted(glob.glob(os.path.join(TOP, "doc", "*.md")))]
    return pages


def anchor(heading):
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page):
    text = re.sub(r"```.*?```", "", read(page), flags=re.S)
    return {anchor(m) for m in re.findall(r"^#+ (.*)$", text, re.M)}


def links(page):
    """The relative link targets of a page, outside code."""
    text = re.sub(r"```.*?```", "", read(page), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target):
            yield target


@pytest.mark.parametrize("page", markdown_pages())
def test_every_relative_link_resolves(page):
    for target in links(page):
        path, _, frag = target.partition("#")
        dest = (os.path.normpath(os.path.join(os.path.dirname(page), path))
                if path else page)
        assert os.path.exists(os.path.join(TOP, dest)), (page, target)
        if frag and dest.endswith(".md"):
            assert frag in anchors(dest), (page, target)


def test_the_readme_links_every_doc_page():
    linked = set(links("README.md"))
    for page in markdown_pages():
        if page.startswith("doc/"):
            assert page in linked, page + " is not linked from README.md"


def test_the_readme_gives_the_two_setup_commands_ci_runs():
    blocks = re.findall(r"```sh\n(.*?)```", read("README.md"), re.S)
    commands = [[line.split("#")[0].strip() for line in b.splitlines()]
                for b in blocks]
    assert ["tests/demo", "tests/run"] in commands, blocks
    ci = [line.strip() for line in read(".ci", "run").splitlines()]
    assert "tests/run" in ci


def test_the_readme_stays_short():
    assert len(read("README.md").splitlines()) <= 160


def test_the_paths_the_man_pages_and_config_name_exist():
    for name in ["doc/rosterd.8", "doc/rosterctl.8", "doc/rosterd.conf.5",
                 "etc/rosterd.conf"]:
        for path in re.findall(r"\bdoc/[\w.-]+\.md\b", read(name)):
            assert os.path.exists(os.path.join(TOP, path)), (name, path)


@pytest.mark.parametrize("page", ["rosterd.8", "rosterctl.8",
                                  "rosterd.conf.5"])
def test_the_man_pages_format_without_a_warning(page):
    if not shutil.which("groff"):
        pytest.skip("groff not installed")
    out = subprocess.run(["groff", "-mandoc", "-ww", "-z",
                          os.path.join(TOP, "doc", page)],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_every_lua_script_has_its_contract_test_file():
    """tests/README.md: a script's tests are tests/contract/test_lua_NAME.py."""
    scripts = sorted(os.path.basename(p)[:-len(".lua")] for p in
                     glob.glob(os.path.join(TOP, "daemon", "lua", "*.lua")))
    tests = sorted(os.path.basename(p)[len("test_lua_"):-len(".py")] for p in
                   glob.glob(os.path.join(TOP, "tests", "contract",
                                          "test_lua_*.py")))
    assert scripts == tests


def python_block_after(page, words):
    """The first ```python block of a page after the sentence words."""
    text = read(*page)
    m = re.search(re.escape(words) + r".*?```python\n(.*?)```", text, re.S)
    assert m, "%s: no Python block after %r" % ("/".join(page), words)
    return m.group(1)


def test_the_documented_format_2_reader_gives_records():
    """doc/roster-format.md's reader, run as written on a format 2 snapshot
    that rosterd wrote (tests/unit/fixtures/snapshot_district.json: a
    sandbox teacher synced with [sync] fields = district, so its students
    carry extras): students become objects, a section's students ids."""
    code = python_block_after(("doc", "roster-format.md"),
                              "To turn it back into\nrecords")
    text = read("tests", "unit", "fixtures", "snapshot_district.json")
    raw = json.loads(text)
    assert raw["format"] == 2 and raw["students"]
    scope = {"json": json, "text": text}
    exec(code, scope)
    r = scope["r"]
    for arr, rec in zip(raw["students"], r["students"]):
        assert rec == {"id": arr[0], "first": arr[1], "last": arr[2],
                       "grade": arr[3], "extra": arr[4]}, rec
    for sec, before in zip(r["sections"], raw["sections"]):
        assert sec["students"] == [raw["students"][i][0]
                                   for i in before["students"]]


def test_the_documented_email_folding_is_ascii_only():
    """doc/contract.md's Python for the accounts' email folding folds A-Z
    and nothing else, as rosterd does (common/roster_record.c)."""
    text = read("doc", "contract.md")
    m = re.search(r"in Python `([^`]+)`", text)
    assert m, "no Python folding in doc/contract.md"
    fold = eval("lambda email: " + m.group(1))
    assert fold("\u00c9LODIE.Durand@X.org") == "\u00c9lodie.durand@x.org"
    assert fold("\u00c9LODIE.Durand@X.org") != "\u00c9LODIE.Durand@X.org".lower()
