#!/usr/bin/env python3
"""Read an installed systemd unit the way systemd would, for test_deb.sh on a
machine where systemd is not PID 1 (a container): the test then runs the
unit's commands itself, as the unit's user, with the unit's configuration.

UNIT is the unit file, optionally followed by its drop-ins, separated by ':'
(read in that order; an empty "KEY=" resets KEY, as "ExecStart=" does).

  unit_argv.py UNIT get KEY          the values of KEY in [Service], one a line
  unit_argv.py UNIT env               the EnvironmentFile= variables, KEY=VALUE
                                     NUL-separated (systemd gives them to every
                                     command of the unit)
  unit_argv.py UNIT exec KEY INDEX   the INDEX-th KEY= command (ExecStartPre,
                                     ExecStart), NUL-separated: its prefix
                                     characters (or "none"), then argv, with
                                     EnvironmentFile= variables expanded as
                                     systemd.service(5) says: "$VAR" alone is
                                     split at whitespace into zero or more
                                     words, "${VAR}" is put in place, "$$" is "$".
"""
import re
import shlex
import sys


def service_section(paths):
    entries = []
    for path in paths.split(":"):
        entries += service_entries(path)
    return entries


def service_entries(path):
    text = open(path, encoding="utf-8").read().replace("\\\n", " ")
    entries, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]" and "=" in line:
            k, v = line.split("=", 1)
            entries.append((k.strip(), v.strip()))
    return entries


def environment(entries):
    env = {}
    for k, v in entries:
        if k != "EnvironmentFile":
            continue
        optional = v.startswith("-")
        try:
            lines = open(v.lstrip("-"), encoding="utf-8").read().splitlines()
        except FileNotFoundError:
            if optional:
                continue
            raise
        for line in lines:
            line = line.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            name, val = line.split("=", 1)
            val = val.strip()
            if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
                val = val[1:-1]
            env[name.strip()] = val
    return env


def expand(cmd, env):
    m = re.match(r"([-+!@:]*)(.*)$", cmd)
    prefix, rest = m.group(1), m.group(2)
    argv = []
    for word in shlex.split(rest):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            argv += env.get(whole.group(1), "").split()
            continue
        argv.append(re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                           lambda x: "$" if x.group(0) == "$$" else env.get(x.group(1), ""),
                           word))
    return prefix or "none", argv


def main():
    unit, verb, key = (sys.argv[1:4] + [""])[:3]
    entries = service_section(unit)
    values = []
    for k, v in entries:
        if k == key:
            values = values + [v] if v else []
    if verb == "get":
        for v in values:
            print(v)
        return 0
    if verb == "env":
        env = environment(entries)
        sys.stdout.write("".join(f"{k}={v}\0" for k, v in env.items()))
        return 0
    index = int(sys.argv[4])
    if index >= len(values):
        return 1
    prefix, argv = expand(values[index], environment(entries))
    sys.stdout.write("\0".join([prefix] + argv) + "\0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
