#!/usr/bin/env python3
"""Write the manual pages of attest's programs from their own --help.

  scripts/gen-man.py --bin build/bin --out build/man [PROGRAM...]

Each page is the program's --help (and its commands' --help) turned into
roff: the usage block becomes the synopsis, indented "TERM  text" lines
become tagged paragraphs, the rest paragraphs. Nothing but NAME, FILES and
SEE ALSO is written here, so a page cannot say something --help does not.
SOURCE_DATE_EPOCH, when set (dpkg-buildpackage sets it), dates the pages.
"""
import argparse
import datetime
import os
import re
import subprocess
import sys

# The programs of the Debian packages (debian/control); attest-sim is not one.
PACKAGED = {"attest-agent", "attest-verifier", "attestctl"}

# program: (section, NAME line, help invocations, FILES, SEE ALSO).
# A help invocation is the argument list (the first one makes SYNOPSIS and
# DESCRIPTION), or (SECTION TITLE, argument list); "COMMANDS" stands for one
# invocation "CMD --help" per command listed in the first help text.
PAGES = {
    "attest-agent": (
        "8",
        "TPM 2.0 remote attestation agent (attester daemon)",
        [["--help"], ("DAEMON", ["--help-daemon"]), "COMMANDS"],
        [("/etc/attest/agent.conf",
          "settings read by attest-agent.service (Debian package)"),
         ("/var/lib/attest-agent",
          "the daemon's --data-dir: TLS identity, verifier pins (verifiers), AKs"),
         ("/lib/systemd/system/attest-agent.service",
          "the systemd unit (Debian package; make install: /etc/systemd/system)")],
        ["attest-verifier(8)", "attestctl(1)", "attest-sim(1)"],
    ),
    "attest-verifier": (
        "8",
        "TPM 2.0 remote attestation verifier, REST API and dashboard",
        [["--help"]],
        [("/etc/attest/verifier.conf",
          "settings read by attest-verifier.service (Debian package)"),
         ("/etc/attest/tpm-cas",
          "EK CA certificates imported when the database is new (Debian package)"),
         ("/var/lib/attest-verifier",
          "the service's --data-dir (Debian package): verifier.key, verifier.crt, "
          "admin.token, verifier.db"),
         ("/lib/systemd/system/attest-verifier.service",
          "the systemd unit (Debian package; make install: /etc/systemd/system)")],
        ["attestctl(1)", "attest-agent(8)"],
    ),
    "attestctl": (
        "1",
        "operator command line of the attest verifier",
        [["--help"], "COMMANDS"],
        [],
        ["attest-verifier(8)", "attest-agent(8)"],
    ),
    "attest-sim": (
        "1",
        "simulated TPM 2.0 hosts for testing attest",
        [["--help"]],
        [],
        ["attest-agent(8)", "attest-verifier(8)", "swtpm(8)"],
    ),
}


def esc(text):
    """Escape plain text for roff (every hyphen a minus: copyable options)."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return text


def line_start(text):
    """A roff text line must not start with a control character."""
    return "\\&" + text if text[:1] in (".", "'") else text


def styled(term):
    """Bold for options and command words, italics for PLACEHOLDERS."""
    out = []
    for tok in re.split(r"(\s+|[\[\]|,])", term):
        if not tok:
            continue
        if re.fullmatch(r"-{1,2}[a-zA-Z][\w-]*", tok):
            out.append("\\fB" + esc(tok) + "\\fR")
        elif re.fullmatch(r"[A-Z][A-Z0-9_]*(:[A-Z0-9_]*)?(\.\.\.)?", tok):
            out.append("\\fI" + esc(tok) + "\\fR")
        else:
            out.append(esc(tok))
    return line_start("".join(out))


def run_help(binary, args):
    p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=30)
    text = p.stdout if p.stdout.strip() else p.stderr
    if p.returncode != 0 or not text.strip():
        sys.exit(f"gen-man: {binary} {' '.join(args)}: exit {p.returncode}, no help")
    return text.expandtabs()


def commands_of(text):
    """The command names listed under a 'Commands:' or 'commands:' heading."""
    names, inside = [], False
    for line in text.splitlines():
        if re.fullmatch(r"[Cc]ommands:\s*", line):
            inside = True
            continue
        if inside:
            m = re.match(r"  ([a-z][a-z0-9-]*)\s", line)
            if not m:
                break
            names.append(m.group(1))
    return names


def blocks(text):
    cur = []
    for line in text.rstrip().splitlines():
        if line.strip():
            cur.append(line.rstrip())
        elif cur:
            yield cur
            cur = []
    if cur:
        yield cur


def indent(line):
    return len(line) - len(line.lstrip(" "))


def render_items(lines, out):
    """Indented lines: a TERM line at the group's smallest indentation, its
    text after two spaces or at the column of the continuation lines."""
    base = min(indent(l) for l in lines)
    cont = [indent(l) for l in lines if indent(l) > base]
    col = max(set(cont), key=cont.count) if cont else None
    items = []
    for l in lines:
        if indent(l) == base:
            body = l.strip()
            m = re.match(r"(\S.*?)\s{2,}(\S.*)$", body)
            if m:
                items.append([m.group(1), [m.group(2)]])
            elif (col and body.startswith("-") and len(l) > col and l[col - 1] == " "
                  and l[col] != " "):
                items.append([l[:col].strip(), [l[col:].strip()]])
            else:
                items.append([body, []])
        elif items and not items[-1][1] and l.strip()[:1] in "[|":
            items[-1][0] += " " + l.strip()
        elif items:
            items[-1][1].append(l.strip())
    for term, desc in items:
        out.append(".TP")
        out.append(styled(term))
        if desc:
            out.append(line_start(esc(" ".join(desc))))
        else:
            out.append("\\&")


def render(text, out, synopsis=None):
    """One help text. With a synopsis list, the usage block goes there."""
    for blk in blocks(text):
        if blk[0].startswith("usage:"):
            target = synopsis if synopsis is not None else out
            target.append(".nf")
            for k, l in enumerate(blk):
                # continuation lines are indented past "usage: "
                l = l[7:] if k and l.startswith(" " * 7) else re.sub(r"^usage: ", "", l)
                target.append(line_start(esc(l)))
            target.append(".fi")
            continue
        out.append(".PP")
        prose = []
        i = 0
        while i < len(blk):
            if indent(blk[i]) == 0:
                prose.append(blk[i].strip())
                i += 1
                continue
            if prose:
                out.append(line_start(esc(" ".join(prose))))
                prose = []
            j = i
            while j < len(blk) and indent(blk[j]) > 0:
                j += 1
            render_items(blk[i:j], out)
            out.append(".PP")
            i = j
        if prose:
            out.append(line_start(esc(" ".join(prose))))
        if out[-1] == ".PP":
            out.pop()


def page(binary, name, spec, date, version):
    section, summary, helps, files, see_also = spec
    synopsis, body = [], []
    first = None
    for h in helps:
        if h == "COMMANDS":
            cmds = commands_of(first)
            if not cmds:
                sys.exit(f"gen-man: {name}: no commands found in --help")
            body.append(".SH COMMANDS")
            for c in cmds:
                body.append(f'.SS "{esc(name + " " + c)}"')
                render(run_help(binary, [c, "--help"]), body)
            continue
        title, h = h if isinstance(h, tuple) else (None, h)
        text = run_help(binary, h)
        if first is None:
            first = text
            body.append(".SH DESCRIPTION")
            render(text, body, synopsis)
        else:
            body.append(f'.SH "{esc(title or " ".join(h).upper())}"')
            render(text, body)
    out = [
        f'.\\" Generated by scripts/gen-man.py from {name} --help; do not edit.',
        f'.TH {esc(name.upper())} {section} "{date}" "attest {esc(version)}" "attest manual"',
        ".nh",
        ".ad l",
        ".SH NAME",
        f"{esc(name)} \\- {esc(summary)}",
        ".SH SYNOPSIS",
    ] + synopsis + body
    if files:
        out.append(".SH FILES")
        for path, what in files:
            out += [".TP", f"\\fI{esc(path)}\\fR", line_start(esc(what))]
    out.append(".SH SEE ALSO")
    refs = [re.match(r"(.+)\((\d)\)", r).groups() for r in see_also]
    out.append(",\n".join(f".BR {esc(n)} ({s})" for n, s in refs))
    # "docs/X.md" in the help texts: where those pages are once installed
    if name in PACKAGED:
        out += [".PP", esc(f"The docs/ pages named above are in the attest source tree, and those "
                           f"for this program in /usr/share/doc/{name}/ when it is installed "
                           f"from its Debian package.")]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="directory holding the programs")
    ap.add_argument("--out", required=True, help="directory to write NAME.SECTION into")
    ap.add_argument("programs", nargs="*", default=list(PAGES))
    a = ap.parse_args()
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or None
    when = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc) if epoch \
        else datetime.datetime.now(datetime.timezone.utc)
    date = when.strftime("%Y-%m-%d")
    os.makedirs(a.out, exist_ok=True)
    for name in a.programs:
        if name not in PAGES:
            sys.exit(f"gen-man: no page described for {name}")
        binary = os.path.join(a.bin, name)
        # attest-sim has no --version: every program is of the same tree.
        ver_bin = binary if name != "attest-sim" else os.path.join(a.bin, "attestctl")
        version = run_help(ver_bin, ["--version"]).split()[-1]
        text = page(binary, name, PAGES[name], date, version)
        path = os.path.join(a.out, f"{name}.{PAGES[name][0]}")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
