# Nimbus guest: a small JSON reader for busybox awk (the image ships no jq:
# under QEMU TCG a jq start costs ~0.4 s, this costs a few ms).
#
#   awk -f /usr/lib/nimbus/json-flat.awk FILE
#
# prints one line per scalar: "<path><TAB><value>", for example
#   .hostname<TAB>vm1
#   .public_keys.mykey<TAB>ssh-ed25519 AAAA... me@host
#   .links[0].ethernet_mac_address<TAB>fa:16:3e:00:00:01
# Strings are unescaped (\n, \r and \t become spaces so that a value stays on
# one line), null values are left out, true/false/numbers are printed as is.
# Exits 1 with a message on stderr when the document is not valid JSON.

function fail(msg) {
    printf "json-flat: %s at offset %d\n", msg, pos > "/dev/stderr"
    bad = 1
    exit 1
}
function skip_ws() {
    while (pos <= n && index(" \t\r\n", substr(s, pos, 1)))
        pos++
}
function hexval(h,   i, v) {
    v = 0
    for (i = 1; i <= 4; i++)
        v = v * 16 + index("0123456789abcdef", tolower(substr(h, i, 1))) - 1
    return v
}
function utf8(c) {
    if (c < 128) return sprintf("%c", c)
    if (c < 2048) return sprintf("%c%c", 192 + int(c / 64), 128 + c % 64)
    return sprintf("%c%c%c", 224 + int(c / 4096), 128 + int(c / 64) % 64, 128 + c % 64)
}
function read_string(   out, c, rest) {
    pos++                                   # the opening quote
    out = ""
    while (pos <= n) {
        rest = substr(s, pos)
        if (match(rest, /^[^"\\]+/)) {
            out = out substr(rest, 1, RLENGTH)
            pos += RLENGTH
            continue
        }
        c = substr(s, pos, 1)
        if (c == "\"") { pos++; return out }
        c = substr(s, pos + 1, 1)           # a backslash escape
        if (c == "n" || c == "r" || c == "t") out = out " "
        else if (c == "u") { out = out utf8(hexval(substr(s, pos + 2, 4))); pos += 4 }
        else if (c != "b" && c != "f") out = out c
        pos += 2
    }
    fail("unterminated string")
}
function read_value(path,   c, key, i, lit) {
    skip_ws()
    c = substr(s, pos, 1)
    if (c == "{") {
        pos++; skip_ws()
        if (substr(s, pos, 1) == "}") { pos++; return }
        while (1) {
            skip_ws()
            if (substr(s, pos, 1) != "\"") fail("object key expected")
            key = read_string()
            skip_ws()
            if (substr(s, pos, 1) != ":") fail("':' expected")
            pos++
            read_value(path "." key)
            skip_ws()
            c = substr(s, pos, 1); pos++
            if (c == "}") return
            if (c != ",") fail("',' or '}' expected")
        }
    }
    if (c == "[") {
        pos++; skip_ws()
        if (substr(s, pos, 1) == "]") { pos++; return }
        for (i = 0; ; i++) {
            read_value(path "[" i "]")
            skip_ws()
            c = substr(s, pos, 1); pos++
            if (c == "]") return
            if (c != ",") fail("',' or ']' expected")
        }
    }
    if (c == "\"") { print path "\t" read_string(); return }
    if (match(substr(s, pos), /^(-?[0-9][0-9.eE+-]*|true|false|null)/)) {
        lit = substr(s, pos, RLENGTH)
        pos += RLENGTH
        if (lit != "null") print path "\t" lit
        return
    }
    fail("value expected")
}
{ s = s $0 "\n" }
END {
    if (bad) exit 1
    n = length(s); pos = 1
    read_value("")
    skip_ws()
    if (pos <= n) fail("trailing data")
}
