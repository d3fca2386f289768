#!/usr/bin/env python3
"""mkseeds.py -- write the seed corpora under fuzz/corpus/<target>/.

Seeds are small, meaningful inputs: the valid forms SPEC and the unit
tests use, and the known-bad ones each parser must refuse. The binary
prefixes (flag and chunk-size bytes) follow the input layout described
at the top of each fuzz_<target>.c. Run from the repository root; the
files it writes are committed, this script only documents how they were
made.
"""
import gzip
import hashlib
import io
import os
import subprocess
import tarfile
import zipfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- filter
FILTERS = {
    "section": "users",
    "sections": "jobs scripts",
    "all": "all",
    "lines": "messages\nusers",
    "has": "bots/has:coordinates",
    "has_eq": "users/has:favorite_color='red'",
    "bool": "users/selected=true",
    "search": "users/james",
    "quoted": "users/\"mary ann\"",
    "escapes": "users/'O\\'Brien \\\"x\\\" a\\nb'",
    "involves": "messages/b17,b42",
    "typed": "jobs/attempts=3\njobs/progress=1.5e3",
    "crlf": "  users  \r\n\r\n\tbots\r\n",
    "utf8": "users/name='Zo\u00eb'",
    "sqli_value": "users/name='x'' OR 1=1 --'",
    "sqli_section": "users; DROP TABLE users",
    "sqli_column": "users/\"name\"=1 OR 1=1",
    "bad_unknown": "robots",
    "bad_unterminated": "users/\"mary ann",
    "bad_empty_value": "users/favorite_color=",
    "bad_all_terms": "all/has:id",
    "bad_bool": "users/selected=maybe",
    "bad_int": "jobs/attempts=3.5",
    "bad_empty_id": "messages/b1,,b2",
    "bad_quote": "users/ja\"mes",
    "bad_trailing": "users/'red'x",
}

# -------------------------------------------------------------- manifest
SHA = hashlib.sha256(b"abc").hexdigest()
BASE = ('{"format":"xport-archive","version":1,"sections":['
        '{"name":"users","file":"data/users.ndjson","key":"id",'
        '"columns":["id","name"],"count":2,"bytes":40,'
        '"sha256":"%s"}]}' % SHA.upper())
FULL = """{
  "format": "xport-archive",
  "version": 1,
  "generator": "mod_xport/0.1.0",
  "created_at": "2026-11-22T10:00:03.417Z",
  "instance": "myinstance",
  "filter": "users\\nbots/has:coordinates",
  "since": "2026-01-01T00:00:00.000Z", "until": null, "closure": true,
  "sections": [
    {"name": "users", "file": "data/users.ndjson", "key": "id",
     "columns": ["id", "name", "email", "updated_at"],
     "count": 1200, "bytes": 183402, "sha256": "%s",
     "window": {"since": "2026-01-01T00:00:00.000Z", "until": null}},
    {"name": "bots", "file": "data/bots.ndjson", "key": "id",
     "columns": ["id", "owner_id"], "count": 0, "bytes": 0,
     "sha256": "%s", "window": null}
  ]
}
""" % (SHA, hashlib.sha256(b"").hexdigest())
MANIFESTS = {
    "base": BASE,
    "full": FULL,
    "bad_version": BASE.replace('"version":1', '"version":2'),
    "bad_format": BASE.replace("xport-archive", "tar"),
    "bad_dup_key": BASE.replace('"version":1', '"version":1,"version":1'),
    "bad_count": BASE.replace('"count":2', '"count":-1'),
    "bad_big_count": BASE.replace('"count":2', '"count":1e400'),
    "bad_sha": BASE.replace(SHA.upper(), "zz"),
    "bad_file": BASE.replace("data/users.ndjson", "../users.ndjson"),
    "bad_name": BASE.replace('"name":"users"', '"name":"users; DROP"'),
    "bad_dup_section": BASE.replace("}]}", "}," + BASE[BASE.index("{\"name"):]),
    "bad_key_missing": BASE.replace('"key":"id"', '"key":"uid"'),
    "bad_nul": BASE.replace('"users"', '"us\\u0000ers"', 1),
    "bad_deep": "[" * 200 + "]" * 200,
    "bad_utf8": BASE.replace("users", "us\udcffers", 1),
    "bad_array": "[1,2]",
}

# ---------------------------------------------------------------- ndjson
# flag bit 0: JSON array; bit 1: "jobs" rows; bit 2: 64-byte line limit;
# bit 3: "people" rows (columns with fields= names; "id" is renamed "Id").
# then 4 chunk-size bytes (b % 64, 255 = all).
USERS_ROWS = ('\ufeff{"id":"u1","name":"Zo\u00eb","selected":true,'
              '"notes":null}\r\n\n{"id":"u2","colour":"red"}\n'
              '{"id":7,"selected":0}')
JOBS_ROWS = ('{"id":"j1","attempts":-9223372036854775808,"progress":24.3,'
             '"payload":{"k":[1,"a"]}}\n'
             '{"id":"j2","attempts":9223372036854775808}\n'
             '{"id":"j3","progress":1e400,"payload":"str"}\n'
             '{"id":"j4","attempts":"3"}')
NDJSON = {
    "users_whole": (0, b"\xff\xff\xff\xff", USERS_ROWS),
    "users_bytes": (0, b"\x01\x01\x01\x01", USERS_ROWS),
    "jobs_mixed": (2, b"\x07\x00\x03\xff", JOBS_ROWS),
    "bad_dup_key": (0, b"\xff\xff\xff\xff", '{"id":"a","id":"b"}\n'),
    "bad_nul": (0, b"\xff\xff\xff\xff", '{"id":"a\\u0000b"}\n'),
    "bad_utf8": (0, b"\xff\xff\xff\xff", b'{"id":"\xc3\x28"}\n'),
    "bad_deep": (2, b"\xff\xff\xff\xff",
                 '{"id":"d","payload":' + "[" * 80 + "]" * 80 + "}\n"),
    "bad_not_object": (0, b"\x05\x05\x05\x05", '[1,2]\n"x"\nnull\n'),
    "long_line": (4, b"\x10\x10\x10\x10", '{"id":"' + "x" * 100 + '"}\n'),
    "array": (1, b"\x03\x05\x02\x01",
              ' [ {"id": "u1", "notes": "x]}\\"y"} ,\n'
              '{ "id" : null }, "s,]", 12.5e3 , true,[ ] ]  \n'),
    "array_jobs": (3, b"\xff\xff\xff\xff",
                   '[{"id":"j1","attempts":1,"payload":[{"a":{}}]}]'),
    "bad_array_open": (1, b"\x02\x02\x02\x02", '[{"id":"a"}'),
    "bad_array_top": (1, b"\xff\xff\xff\xff", '{"id":"a"}'),
    "bad_array_tail": (1, b"\xff\xff\xff\xff", '[{"id":"a"}] x'),
    "bad_array_deep": (1, b"\x09\x09\x09\x09", "[" * 100 + "]" * 100),
    "people_array": (9, b"\x04\x11\x02\xff",
                     '[{"Id":"p1","E-mail":"a@x","\u00c2ge":7,"id":[1]},\n'
                     ' {"Id":"p2","email":"b@x"},{"E-mail":"c","Id":"p3",'
                     '"\u00c2ge":"x"}]'),
    "people_lines": (8, b"\xff\xff\xff\xff",
                     '{"Id":"p1","id":{"a":null},"E-mail":null}\n'
                     '{"Id":"p1","Id":"p2"}\n'),
}

# ------------------------------------------------------------- entryname
NAMES = {
    "manifest": "manifest.json",
    "data": "data/users.ndjson",
    "data_long_ident": "data/" + "a" * 63 + ".ndjson",
    "dotdot": "../etc/passwd",
    "dotdot_inner": "data/../../x.ndjson",
    "dotdot_tail": "data/..",
    "dots_ok": "data/..users.ndjson",
    "absolute": "/etc/passwd",
    "backslash": "..\\..\\windows\\win.ini",
    "drive": "C:\\x",
    "control": "data/us\x01ers.ndjson",
    "del": "data/us\x7fers.ndjson",
    "overlong_utf8": b"data/\xc0\xafusers.ndjson",
    "surrogate": b"data/\xed\xa0\x80.ndjson",
    "nfd": "data/cafe\u0301.ndjson",
    "too_long": "a" * 256,
    "empty": "",
}

# ------------------------------------------------------------- multipart
# 4 chunk-size bytes, the Content-Type value up to LF, then the body.
B = "----xpBoundary7MA4YWxkTrZu0gW"
BX = B[:-1] + "X"
CT = "multipart/form-data; boundary=" + B + "\n"
SAMPLE = ("This is the preamble; ignore it.\r\n"
          "--" + B + "\r\n"
          'Content-Disposition: form-data; name="dry_run"\r\n\r\n'
          "true\r\n"
          "--" + B + "\r\n"
          'Content-Disposition: form-data; name="import"; '
          'filename="export-demo.tar.gz"\r\n'
          "Content-Type: application/gzip\r\n\r\n"
          "\x1f\x8b\r\n--" + BX + " is not it\r\n-- nor this\r\r\n\n--" + B +
          "\r\n"
          "--" + B + "  \r\n"
          'Content-Disposition: form-data; name="on_conflict"\r\n\r\n'
          "skip\r\n"
          "--" + B + "--\r\n"
          "epilogue, also ignored\r\n")
SIMPLE = ("--" + B + '\r\nContent-Disposition: form-data; name="import"'
          "\r\n\r\nABC\r\n--" + B + "--\r\n")
MULTIPART = {
    "sample_whole": (b"\xff\xff\xff\xff", CT + SAMPLE),
    "sample_small": (b"\x01\x02\x03\x05", CT + SAMPLE),
    "simple_split": (b"\x21\x3f\x00\xff", CT + SIMPLE),
    "lf_only": (b"\x07\x07\x07\x07", CT + SIMPLE.replace("\r\n", "\n")),
    "quoted_boundary": (b"\xff\xff\xff\xff",
                        'multipart/form-data; charset=utf-8; '
                        'BOUNDARY="gc0p4Jq0M2Yt08j34c0p x=y"\n' +
                        SIMPLE.replace(B, "gc0p4Jq0M2Yt08j34c0p x=y")),
    "filename_star": (b"\xff\xff\xff\xff", CT +
                      SIMPLE.replace('name="import"', 'name="import"; '
                                     "filename*=UTF-8''na%C3%AFve%0D%0A.tgz")),
    "bad_no_boundary": (b"\xff\xff\xff\xff", "multipart/form-data\n" + SIMPLE),
    "bad_long_boundary": (b"\xff\xff\xff\xff",
                          "multipart/form-data; boundary=" + "b" * 71 + "\n"),
    "bad_cut": (b"\xff\xff\xff\xff", CT + SIMPLE[:-12]),
    "bad_never": (b"\xff\xff\xff\xff", CT + "just some bytes, no boundary"),
    "bad_two_files": (b"\x10\x10\x10\x10", CT +
                      "--" + B + '\r\nContent-Disposition: form-data; name="a";'
                      ' filename="a.tar"\r\n\r\nA\r\n' + SIMPLE),
    "bad_huge_header": (b"\xff\x3f\xff\x3f", CT + "--" + B +
                        '\r\nContent-Disposition: form-data; name="import"'
                        "\r\nX-Junk: " + "j" * 9000 + "\r\n\r\nA\r\n--" + B +
                        "--\r\n"),
    "bad_many_parts": (b"\xff\xff\xff\xff", CT + "".join(
        "--" + B + '\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n'
        % i for i in range(17)) + SIMPLE),
    "bad_big_field": (b"\xff\xff\xff\xff", CT + "--" + B +
                      '\r\nContent-Disposition: form-data; name="dry_run"'
                      "\r\n\r\n" + "t" * 1100 + "\r\n" + SIMPLE),
}


# --------------------------------------------------------------- areader
# whole upload files: small archives an import reads, and hostile ones.
ROWS = b'{"id":"u1","name":"Zo\xc3\xab"}\n{"id":"u2","name":"Al"}\n'


def tar_bytes(members, mtime=0):
    """members: (name, data or None, kind, linkname); kind 'f' 'l' 's' 'd' 'c' 'p'"""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data, kind, link in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = mtime
            ti.type = {"f": tarfile.REGTYPE, "l": tarfile.LNKTYPE,
                       "s": tarfile.SYMTYPE, "d": tarfile.DIRTYPE,
                       "c": tarfile.CHRTYPE, "p": tarfile.FIFOTYPE}[kind]
            if link:
                ti.linkname = link
            if data is not None and kind == "f":
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return out.getvalue()


def gz(data):
    return gzip.compress(data, mtime=0)


def zst(data):
    try:
        return subprocess.run(["zstd", "-q", "-c"], input=data,
                              stdout=subprocess.PIPE, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def zip_bytes(members):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def archives():
    good = [("manifest.json", BASE.encode(), "f", None),
            ("data/users.ndjson", ROWS, "f", None)]
    plain = tar_bytes(good)
    yield "tar", plain
    yield "tar_gz", gz(plain)
    if zst(plain):
        yield "tar_zst", zst(plain)
    yield "zip", zip_bytes([(n, d) for n, d, _, _ in good])
    yield "bad_dotdot", gz(tar_bytes([("../evil.ndjson", b"x", "f", None)]))
    yield "bad_absolute", gz(tar_bytes([("/etc/cron.d/x", b"x", "f", None)]))
    yield "bad_symlink", gz(tar_bytes(
        [("data/users.ndjson", None, "s", "/etc/passwd")]))
    yield "bad_hardlink", gz(tar_bytes(
        good[:1] + [("data/users.ndjson", None, "l", "manifest.json")]))
    yield "bad_device", gz(tar_bytes([("data/x.ndjson", None, "c", None)]))
    yield "bad_fifo", gz(tar_bytes([("data/x.ndjson", None, "p", None)]))
    yield "bad_dir", gz(tar_bytes([("data", None, "d", None)] + good))
    yield "bad_dup_case", gz(tar_bytes(
        good + [("data/USERS.ndjson", ROWS, "f", None)]))
    yield "bad_nested_gz", gz(gz(plain))
    yield "bad_zip_backslash", zip_bytes([("..\\evil.ndjson", b"x")])
    yield "bad_truncated_gz", gz(plain)[:60]
    yield "bad_bomb_gz", gz(tar_bytes(
        good[:1] + [("data/users.ndjson", b"\0" * (2 * 1024 * 1024), "f",
                     None)]))
    yield "bad_not_archive", b"Rar!\x1a\x07\x00" + b"\0" * 64


def main():
    for name, text in FILTERS.items():
        write("filter", name, text)
    for name, text in MANIFESTS.items():
        write("manifest", name, text)
    for name, (flags, sizes, text) in NDJSON.items():
        if isinstance(text, str):
            text = text.encode("utf-8")
        write("ndjson", name, bytes([flags]) + sizes + text)
    for name, text in NAMES.items():
        write("entryname", name, text)
    for name, (sizes, text) in MULTIPART.items():
        write("multipart", name, sizes + text.encode("latin-1"))
    for name, data in archives():
        write("areader", name, data)


if __name__ == "__main__":
    main()
