#!/bin/bash
# The admin guide doc/dm-dedup.rst covers the module's own lists, read from
# the source so that a new feature, status field, message or stats key
# fails this test until it is documented:
#   table features  identifier-like string literals in parse_features()
#   status fields   tests/lib.sh DEDUP_STATUS_FIELDS (README's names), whose
#                   count must equal the conversions that dedup_status()
#                   (or a helper it calls) prints for STATUSTYPE_INFO
#   messages        identifier-like string literals in dedup_message()
#   stats keys      "key=%" in the format strings of emit_stats()
#   hashes          the names in dm-dedup-hash.c's table ({ "name", ... })
#   table errors    every string assigned to an error (ti->error, *error)
#   module params   module_param*() names, if any
# Extraction works on string literals and brace-matched function bodies,
# not on line layout, so reformatting does not break it. A name counts as
# covered when the guide has it as ``name``, <name>, or in a definition-
# list term (a line starting with it, or with "a, b, name"); an error
# string anywhere (line breaks in the guide count as blanks). A self-check
# removes one feature from a copy of the guide and expects a failure.
# timeout: 60
set -eu
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
W=$(mktemp -d "${TMPDIR:-/tmp}/guide-coverage.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
GUIDE=$TOP/doc/dm-dedup.rst
[ -f "$GUIDE" ] || fail "no $GUIDE"

cat > "$W/cover.py" <<'PY'
import glob, os, re, sys

top, guide_path, lists_out = sys.argv[1], sys.argv[2], sys.argv[3]
LIT = r'"(?:[^"\\\n]|\\.)*"'


def strip_comments(s):
    # Comments go; string and char literals stay whole.
    out, i, n = [], 0, len(s)
    while i < n:
        if s.startswith('/*', i):
            j = s.find('*/', i + 2)
            i = n if j < 0 else j + 2
            out.append(' ')
        elif s.startswith('//', i):
            j = s.find('\n', i)
            i = n if j < 0 else j
        elif s[i] in '"\'':
            q, j = s[i], i + 1
            while j < n and s[j] != q:
                j += 2 if s[j] == '\\' else 1
            out.append(s[i:j + 1])
            i = j + 1
        else:
            out.append(s[i])
            i += 1
    return ''.join(out)


def body(src, name):
    """The body of the definition of function NAME (brace matched)."""
    for m in re.finditer(r'\b%s\s*\(' % re.escape(name), src):
        i, depth = m.end(), 1
        while i < len(src) and depth:          # skip the parameter list
            depth += {'(': 1, ')': -1}.get(src[i], 0)
            i += 1
        rest = src[i:]
        k = len(rest) - len(rest.lstrip())
        if not rest[k:].startswith('{'):
            continue                            # a call or a prototype
        i += k
        start, depth = i, 0
        while i < len(src):
            c = src[i]
            if c in '"\'':
                j = i + 1
                while src[j] != c:
                    j += 2 if src[j] == '\\' else 1
                i = j
            elif c == '{':
                depth += 1
            elif c == '}':
                depth -= 1
                if not depth:
                    return src[start:i + 1]
            i += 1
    sys.exit('cannot find the definition of %s()' % name)


def joined(text):
    """String literals, adjacent ones joined, \\n and \\t decoded."""
    out = []
    for m in re.finditer(r'(?:%s\s*)+' % LIT, text):
        lit = ''.join(p[1:-1] for p in re.findall(LIT, m.group(0)))
        out.append(lit.replace('\\n', '\n').replace('\\t', '\t'))
    return out


def words(text):
    return [l for l in joined(text) if re.fullmatch(r'[a-z][a-z0-9_]*', l)]


target = strip_comments(open(os.path.join(top, 'dm-dedup-target.c')).read())
allsrc = ''.join(strip_comments(open(f).read())
                 for f in sorted(glob.glob(os.path.join(top, 'dm-dedup-*.c'))))
hashsrc = strip_comments(open(os.path.join(top, 'dm-dedup-hash.c')).read())

lists = {}
lists['feature'] = words(body(target, 'parse_features'))
lists['message'] = words(body(target, 'dedup_message'))
lists['stats key'] = [k for f in joined(body(target, 'emit_stats'))
                      for k in re.findall(r'([a-z][a-z0-9_]*)=%', f)]
lists['hash'] = re.findall(r'\{\s*"([a-z0-9][a-z0-9-]*)"\s*,', hashsrc)
lists['error'] = [''.join(p[1:-1] for p in re.findall(LIT, m.group(1)))
                  for m in re.finditer(r'\berror\s*=\s*((?:%s\s*)+)' % LIT, allsrc)]
lists['module parameter'] = [m.group(1) for m in re.finditer(
    r'\bmodule_param(?:_named|_array)?\s*\(\s*(\w+)', allsrc)]

# Status: the names come from tests/lib.sh; their number must match the
# conversions printed for STATUSTYPE_INFO, in dedup_status() or a helper.
libsh = open(os.path.join(top, 'tests/lib.sh')).read()
m = re.search(r'DEDUP_STATUS_FIELDS="([^"]*)"', libsh)
if not m:
    sys.exit('no DEDUP_STATUS_FIELDS in tests/lib.sh')
lists['status field'] = m.group(1).split()
status = body(target, 'dedup_status')
m = re.search(r'STATUSTYPE_INFO\s*:(.*?)(?:\bcase\b|\bdefault\s*:|$)', status, re.S)
if not m:
    sys.exit('no STATUSTYPE_INFO case in dedup_status()')
info = m.group(1)
fmts = [f for d in re.finditer(r'DMEMIT\s*\(((?:%s\s*)+)' % LIT, info)
        for f in joined(d.group(1))]
if not fmts:                    # one level down: helpers that DMEMIT
    for call in re.findall(r'\b([a-z_][a-z0-9_]*)\s*\(', info):
        if call in ('DMEMIT', 'if', 'switch', 'sizeof'):
            continue
        try:
            b = body(target, call)
        except SystemExit:
            continue
        fmts += [f for d in re.finditer(r'DMEMIT\s*\(((?:%s\s*)+)' % LIT, b)
                 for f in joined(d.group(1))]
nconv = sum(len(re.findall(r'%(?!%)[-+ #0-9.]*(?:ll|l|z|h|hh)?[a-zA-Z]', f))
            for f in fmts)
if nconv != len(lists['status field']):
    sys.exit('dedup_status prints %d fields, tests/lib.sh DEDUP_STATUS_FIELDS '
             'names %d: update lib.sh (and README) first' %
             (nconv, len(lists['status field'])))

for what in ('feature', 'message', 'stats key', 'hash', 'error', 'status field'):
    if not lists[what]:
        sys.exit('extracted no %s from the source: the extraction in '
                 'tests/host/guide-coverage.sh needs updating' % what)

guide = open(guide_path).read()
flat = re.sub(r'\s+', ' ', guide)     # error strings may wrap in the text
missing = []
with open(lists_out, 'w') as out:
    for what, names in lists.items():
        for n in dict.fromkeys(names):
            out.write('%s\t%s\n' % (what, n))
            if what == 'error':
                ok = n in flat
            else:
                e = re.escape(n)
                ok = re.search(r'``%s``|<%s>|^\s*(?:[\w-]+,\s*)*%s(?![\w-])'
                               % (e, e, e), guide, re.M)
            if not ok:
                missing.append('%s %s' % (what, n))
for what, names in lists.items():
    print('%-17s %d: %s' % (what, len(set(names)), ' '.join(dict.fromkeys(names))))
if missing:
    print('doc/dm-dedup.rst does not mention:')
    for m in missing:
        print('  ' + m)
    sys.exit(1)
PY

python3 "$W/cover.py" "$TOP" "$GUIDE" "$W/lists" || fail "the guide misses what the module has"

# Self-check: a guide without one of the features must fail.
f=$(awk -F'\t' '$1 == "feature" { print $2; exit }' "$W/lists")
grep -v -- "$f" "$GUIDE" > "$W/guide.rst"
if python3 "$W/cover.py" "$TOP" "$W/guide.rst" "$W/lists2" > "$W/self.out" 2>&1; then
	cat "$W/self.out"
	fail "self-check: a guide without feature $f passed"
fi
grep -q "feature $f\$" "$W/self.out" || { cat "$W/self.out"; fail "self-check: no report of $f"; }
echo "ok: self-check (a guide without '$f' fails)"

# README points to the guide; the old interface notes are gone.
grep -q 'doc/dm-dedup.rst' "$TOP/README.md" || fail "README.md does not link doc/dm-dedup.rst"
[ ! -e "$TOP/doc/interface.md" ] || fail "doc/interface.md still exists (the guide replaces it)"
! grep -rn 'interface\.md' "$TOP/README.md" "$TOP/tests" "$TOP/scripts" "$TOP/doc" \
	--exclude=guide-coverage.sh || fail "references to doc/interface.md remain"
echo "ok: README links the guide"
