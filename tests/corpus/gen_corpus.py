#!/usr/bin/env python3
"""gen_corpus.py: (re)generate the bad-input corpus of tests/corpus.

    python3 tests/corpus/gen_corpus.py        # from the repository root

Writes tests/corpus/{config,data,output}/NNN-name.yaml (and NNN-name.setup
recipes where a case needs files prepared at run time) and
tests/corpus/manifest.tsv. The generated files are committed; this script
is only needed to change the corpus. The driver is tests/e2e/test_corpus.sh.

manifest.tsv, one case per line, tab-separated:
    FILE  EXIT  FRAGMENT  FLAGS
FILE is relative to tests/corpus; EXIT the expected exit code; FRAGMENT a
fixed string the one-line error on stderr must contain; FLAGS a
comma-separated list (or "-") of:
    runtime   the error is found by `runner run` only (validate accepts it)
    nobody    run as an unprivileged user (permission cases; we may be root)
    fsize     run with a small RLIMIT_FSIZE (disk full)
    usage     a command line (usage/*.args, one argument per line): the
              message is the first line of stderr, the usage text follows
    nofile    do not require the message to name the experiment file
    creates   new files may appear in the case directory (existing ones must
              still be byte-identical)
    recover   afterwards, the same run without the fault must succeed

The wrong-type and out-of-range cases are made for every key of
schemas/experiment.schema.json, so a new key gets its cases by rerunning
this script.
"""
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "corpus")

# A valid experiment that the driver can run (data in ./good, a tiny net).
BASE = [
    ("name", "corpus"),
    ("seed", "3"),
    ("data", [("dir", "good"), ("train_limit", "200"), ("test_limit", "100")]),
    ("model", [("layers", "[3072, 10]")]),
    ("training", [("epochs", "1"), ("batch_size", "50")]),
]

# Output and some config cases read tiny .npy features (./npy, made by the driver) instead of
# the CIFAR fixture: the data are not what they test (the CIFAR reader has its own cases), and it keeps them fast.
NPY = (("features.kind", "npy"), ("features.npy.train", "npy/x.npy"),
       ("features.npy.train_labels", "npy/y.npy"), ("features.npy.test", "npy/x.npy"),
       ("features.npy.test_labels", "npy/y.npy"), ("model.layers", "[4, 10]"),
       ("training.batch_size", "5"))


cases = []  # (relpath, content bytes, exit, fragment, flags, setup text or None)


def emit(tree, indent=0):
    out = []
    for k, v in tree:
        if isinstance(v, list):
            out.append(" " * indent + k + ":")
            out.extend(emit(v, indent + 2))
        else:
            out.append(" " * indent + k + ": " + v)
    return out


def with_value(path, value):
    """BASE with the dotted key set to raw YAML text `value`."""
    return yaml_text((path, value))


def yaml_text(*pairs):
    """BASE with several dotted keys set to raw YAML text."""
    tree = BASE
    for path, value in pairs:
        tree = _put_tree(tree, path.split("."), value)
    return "\n".join(emit(tree)) + "\n"


def _put_tree(tree, parts, value):
    tree = [(k, list(v) if isinstance(v, list) else v) for k, v in tree]
    for i, (k, v) in enumerate(tree):
        if k == parts[0]:
            if len(parts) == 1:
                tree[i] = (k, value)
            else:
                tree[i] = (k, _put_tree(v if isinstance(v, list) else [], parts[1:], value))
            return tree
    if len(parts) == 1:
        tree.append((parts[0], value))
    else:
        tree.append((parts[0], _put_tree([], parts[1:], value)))
    return tree


def add(kind, name, content, code, fragment, flags="-", setup=None):
    n = len([c for c in cases if c[0].startswith(kind + "/")]) + 1
    rel = "%s/%03d-%s.%s" % (kind, n, name, "args" if kind == "usage" else "yaml")
    if isinstance(content, str):
        content = content.encode("utf-8")
    cases.append((rel, content, code, fragment, flags, setup))


def cfg(name, content, fragment, code=3, flags="-", setup=None):
    add("config", name, content, code, fragment, flags, setup)


# ---- YAML syntax and file-level problems -------------------------------
cfg("empty", b"", "got an empty file")
cfg("blank-lines", b"\n\n   \n", "got an empty file")
cfg("comment-only", "# nothing but a comment\n", "got an empty file")
cfg("empty-document", "---\n", "expected a mapping of keys")
cfg("tab-indent", "name: x\ndata:\n\tdir: good\n", "YAML syntax error")
cfg("tab-before-value-key", "model:\n  layers: [3072, 10]\ntraining:\n\t epochs: 1\n",
    "YAML syntax error")
cfg("unclosed-bracket", "model:\n  layers: [3072, 10\n",
    "YAML syntax error")
cfg("unclosed-brace", "model: {layers: [3072, 10]\n", "YAML syntax error")
cfg("unclosed-double-quote", 'name: "abc\nmodel:\n  layers: [3072, 10]\n', "YAML syntax error")
cfg("unclosed-single-quote", "name: 'abc\nmodel:\n  layers: [3072, 10]\n", "YAML syntax error")
cfg("bad-indentation", "model:\n  layers: [3072, 10]\n    activation: relu\n",
    "YAML syntax error")
cfg("bad-dedent", "training:\n    epochs: 1\n  batch_size: 5\n", "YAML syntax error")
cfg("colon-in-plain-value", "model:\n  layers: [3072, 10]\nname: b: c\n", "YAML syntax error")
cfg("list-root", "- name: x\n- seed: 1\n", "expected a mapping of keys, got a list")
cfg("scalar-root", "just a sentence\n", "expected a mapping of keys")
cfg("two-documents", with_value("seed", "1") + "---\nname: second\n",
    "more than one YAML document")
cfg("flow-key-only", "{name}\n", "name")
cfg("stray-dash", "model:\n  layers: [3072, 10]\n- 3\n", "YAML syntax error")
cfg("binary-junk", bytes((i * 73 + 41) % 256 for i in range(512)), "invalid UTF-8")
cfg("nul-bytes", b"name: a\x00b\nmodel:\n  layers: [3072, 10]\n", "YAML")
cfg("latin1-name", b"name: caf\xe9\nmodel:\n  layers: [3072, 10]\n", "invalid UTF-8 (byte 0xE9)")
cfg("overlong-utf8", b"name: \xc0\xafx\nmodel:\n  layers: [3072, 10]\n", "invalid UTF-8")
cfg("utf8-surrogate", b"name: \xed\xa0\x80\nmodel:\n  layers: [3072, 10]\n", "invalid UTF-8")
cfg("truncated-utf8", b"model:\n  layers: [3072, 10]\nname: ab\xe2\x82", "invalid UTF-8")
cfg("utf16-file", "name: x\nmodel:\n  layers: [3072, 10]\n".encode("utf-16"), "invalid UTF-8")
cfg("control-char", b"name: a\x07b\nmodel:\n  layers: [3072, 10]\n", "YAML error")
cfg("bom-then-tab", b"\xef\xbb\xbfname:\tx\n\tseed: 1\n", "YAML")
cfg("duplicate-top-key", with_value("seed", "1") + "seed: 2\n", "seed: duplicate key")
cfg("duplicate-nested-key", "model:\n  layers: [3072, 10]\n  layers: [3072, 10]\n",
    "model.layers: duplicate key")
cfg("duplicate-section", with_value("seed", "1") + "training:\n  epochs: 2\n",
    "training: duplicate key")
cfg("duplicate-in-flow", "model: {layers: [3072, 10], activation: relu, activation: tanh}\n",
    "model.activation: duplicate key")
cfg("anchor-alias", "data:\n  dir: &d good\nfeatures:\n  cache_dir: *d\n"
    "model:\n  layers: [3072, 10]\n", "anchors and aliases are not supported")
cfg("alias-only", "model:\n  layers: *l\n", "anchors and aliases are not supported",
    )
cfg("anchor-on-section", "training: &t\n  epochs: 1\nmodel:\n  layers: [3072, 10]\n",
    "anchors and aliases are not supported")
cfg("merge-key", "data: &b {dir: good}\ntraining:\n  <<: *b\nmodel:\n  layers: [3072, 10]\n",
    "not supported")
cfg("merge-key-inline", "training:\n  <<: {epochs: 1}\nmodel:\n  layers: [3072, 10]\n",
    "merge keys (<<) are not supported")
cfg("tag-str", "name: !!str 12\nmodel:\n  layers: [3072, 10]\n", "tags are not supported")
cfg("tag-custom", "model: !custom\n  layers: [3072, 10]\n", "tags are not supported")
cfg("tag-binary", "name: !!binary aGVsbG8=\nmodel:\n  layers: [3072, 10]\n",
    "tags are not supported")
cfg("complex-key", "? [a, b]\n: 1\nmodel:\n  layers: [3072, 10]\n",
    "expected a key name, got a list")
cfg("mapping-key", "? {a: 1}\n: 1\n", "expected a key name, got a mapping")
cfg("unknown-top-key", with_value("epochs", "3"), "epochs: unknown key")
cfg("unknown-nested-key", with_value("training.epoch", "3"), "training.epoch: unknown key")
cfg("unknown-deep-key", with_value("features.kmeans.k", "3"), "features.kmeans.k: unknown key")
cfg("misspelled-section", with_value("trainng.epochs", "3"), "trainng: unknown key")
cfg("missing-layers", "name: x\ntraining:\n  epochs: 1\n", "model.layers: required key is missing")
cfg("missing-layers-empty-model", "model: {}\n", "model.layers: required key is missing")
cfg("deep-list-10k", "model:\n  layers: " + "[" * 10000 + "]" * 10000 + "\n",
    "model.layers[0]: expected an integer")
cfg("deep-list-root-10k", "[" * 10000 + "]" * 10000 + "\n", "expected a mapping of keys")
cfg("deep-map-10k", "name: " + "{a: " * 10000 + "1" + "}" * 10000 + "\n",
    "name: expected a string")
cfg("deep-block-map", "name:\n" + "".join(" " * i + "k%d:\n" % i for i in range(1, 2000))
    + " " * 2000 + "v: 1\n", "name: expected a string")
cfg("deep-unknown-value", "extra: " + "[" * 5000 + "]" * 5000 + "\n", "extra: unknown key")
cfg("huge-file", "model:\n  layers: [3072, 10]\n", "name: expected a string of at most 200 characters",
    setup='# A 40 MB name value: read, measured and refused with a short message.\n'
          'printf \'name: "\' >>"$CASE"\n'
          'head -c 40000000 /dev/zero | tr "\\0" a >>"$CASE"\n'
          'printf \'"\\n\' >>"$CASE"\n')
cfg("huge-comment", with_value("seed", "1"), "seed: duplicate key",
    setup='# 20 MB of comment lines, then an error at the end.\n'
          'yes "# padding padding padding padding padding padding" | head -c 20000000 >>"$CASE"\n'
          'echo "seed: 2" >>"$CASE"\n')
cfg("long-key", with_value("k" * 1000, "1"), "unknown key")
cfg("key-over-1024", with_value("k" * 5000, "1"), "YAML syntax error")
cfg("config-is-directory", b"", "not a regular file", flags="nofile",
    setup='# The experiment "file" is a directory.\nrm -f "$CASE"; mkdir "$CASE"\n')
cfg("config-missing", b"", "cannot open", flags="-",
    setup='# The experiment file does not exist.\nrm -f "$CASE"\n')

# ---- null values, quoting, number syntax --------------------------------
cfg("null-seed", with_value("seed", "null"), "seed: expected an integer, got null")
cfg("tilde-epochs", with_value("training.epochs", "~"), "training.epochs: expected an integer")
cfg("empty-value-lr", with_value("training.learning_rate", ""),
    "training.learning_rate: expected a number")
cfg("null-section", with_value("training", "null"), "training: expected a mapping, got null")
cfg("null-layers", with_value("model.layers", "null"), "model.layers: expected a list")
cfg("null-name", with_value("name", "null"), "name: expected a string, got null")
cfg("quoted-int", with_value("training.epochs", '"5"'), "training.epochs: expected an integer")
cfg("hex-int", with_value("training.epochs", "0x10"), "training.epochs: expected an integer")
cfg("octal-int", with_value("training.epochs", "010"), "without leading zeros")
cfg("exp-int", with_value("training.epochs", "1e3"), "training.epochs: expected an integer")
cfg("float-int", with_value("training.epochs", "1.5"), "training.epochs: expected an integer")
cfg("underscore-int", with_value("training.batch_size", "1_000"), "expected an integer")
cfg("int-2pow64", with_value("seed", "18446744073709551616"), "seed: expected an integer in")
cfg("int-huge-digits", with_value("seed", "9" * 400), "seed: expected an integer in")
cfg("seed-2pow63", with_value("seed", "9223372036854775808"), "seed: expected an integer in")
cfg("negative-seed", with_value("seed", "-1"), "seed: expected an integer in")
cfg("quoted-number", with_value("training.learning_rate", "'0.1'"), "expected a number")
cfg("hex-float", with_value("training.learning_rate", "0x1p-3"), "expected a number")
cfg("comma-decimal", with_value("training.learning_rate", "0,1"), "expected a number")
cfg("number-with-unit", with_value("training.learning_rate", "0.1s"), "expected a number")
cfg("nan", with_value("training.learning_rate", ".nan"), "expected a finite number")
cfg("NaN-caps", with_value("training.learning_rate", ".NaN"), "expected a finite number")
cfg("nan-word", with_value("training.momentum", "nan"), "training.momentum: expected a")
cfg("inf", with_value("training.learning_rate", ".inf"), "expected a finite number")
cfg("neg-inf", with_value("training.lr_min", "-.inf"), "expected a finite number")
cfg("inf-word", with_value("training.learning_rate", "inf"), "training.learning_rate: expected a")
cfg("1e400", with_value("training.learning_rate", "1e400"), "too large for a double")
cfg("neg-1e400", with_value("training.weight_decay", "-1e400"), "too large for a double")
cfg("1e-400", with_value("training.learning_rate", "1e-400"),
    "training.learning_rate: expected a number in (0, 10]")
cfg("negative-lr", with_value("training.learning_rate", "-0.01"),
    "training.learning_rate: expected a number in (0, 10]")
cfg("zero-lr", with_value("training.learning_rate", "0"), "expected a number in (0, 10]")
cfg("negative-zero-lr", with_value("training.learning_rate", "-0.0"),
    "expected a number in (0, 10]")
cfg("zero-epochs", with_value("training.epochs", "0"), "training.epochs: expected an integer in [1,")
cfg("bool-quoted", with_value("training.shuffle", '"true"'), "training.shuffle: expected a boolean")
cfg("bool-number", with_value("training.shuffle", "1"), "training.shuffle: expected a boolean")
cfg("bool-y", with_value("training.shuffle", "y"), "training.shuffle: expected a boolean")
cfg("name-number", with_value("name", "2024"), "quote it to make it a string")
cfg("name-bool", with_value("name", "yes"), "quote it to make it a string")
cfg("name-empty", with_value("name", '""'), "name: expected a non-empty string")
cfg("name-too-long", with_value("name", "n" * 201), "name: expected a string of at most 200")
cfg("name-nul-escape", with_value("name", '"a\\0b"'), "without NUL characters")
cfg("data-dir-too-long", with_value("data.dir", "d" * 4097), "data.dir: expected a string of at most 4096")
cfg("enum-case", with_value("model.activation", "ReLU"), "model.activation: expected one of")
cfg("enum-quoted-wrong", with_value("features.kind", "'pixels'"), "features.kind: expected one of")

# ---- wrong type and out of range at every key ---------------------------
schema = json.load(open(os.path.join(ROOT, "schemas", "experiment.schema.json")))


def leaves(node, prefix=""):
    for k, v in node["properties"].items():
        path = prefix + k
        if v.get("type") == "object":
            yield path, v, True
            yield from leaves(v, path + ".")
        else:
            yield path, v, False


def fmt_num(x):
    return repr(float(x)) if isinstance(x, float) else str(x)


for path, spec, section in leaves(schema):
    slug = path.replace(".", "-")
    t = spec.get("type")
    if section:
        cfg("type-%s" % slug, with_value(path, "5"), "%s: expected a mapping, got \"5\"" % path)
        continue
    if path == "model.layers":
        cfg("type-%s" % slug, with_value(path, "3072"), "model.layers: expected a list of integers")
        cfg("type-%s-map" % slug, with_value(path, "{a: 1}"),
            "model.layers: expected a list of integers, got a mapping")
        continue
    if "enum" in spec:
        cfg("type-%s" % slug, with_value(path, "[a]"), "%s: expected one of" % path)
        cfg("enum-%s" % slug, with_value(path, "bogus"), "%s: expected one of" % path)
        continue
    if t == "integer":
        cfg("type-%s" % slug, with_value(path, "abc"), "%s: expected an integer, got \"abc\"" % path)
        cfg("type-%s-list" % slug, with_value(path, "[1]"), "%s: expected an integer, got a list" % path)
        hi = spec["maximum"] + 1
        cfg("range-%s-high" % slug, with_value(path, str(hi)), "%s: expected an integer in" % path)
        lo = spec["minimum"] - 1
        cfg("range-%s-low" % slug, with_value(path, str(lo)), "%s: expected an integer in" % path)
    elif t == "number":
        cfg("type-%s" % slug, with_value(path, "fast"), "%s: expected a number, got \"fast\"" % path)
        cfg("type-%s-map" % slug, with_value(path, "{x: 1}"), "%s: expected a number, got a mapping" % path)
        if "maximum" in spec:
            hi = spec["maximum"] * 2 + 1
        else:
            hi = spec["exclusiveMaximum"]
        cfg("range-%s-high" % slug, with_value(path, fmt_num(hi)), "%s: expected a number in" % path)
        if "minimum" in spec:
            lo = spec["minimum"] - 0.5
        else:
            lo = spec["exclusiveMinimum"]
        cfg("range-%s-low" % slug, with_value(path, fmt_num(lo)), "%s: expected a number in" % path)
        cfg("nonfinite-%s" % slug, with_value(path, ".nan"), "%s: expected a finite number" % path)
    elif t == "boolean":
        cfg("type-%s" % slug, with_value(path, "maybe"), "%s: expected a boolean" % path)
        cfg("type-%s-list" % slug, with_value(path, "[true]"), "%s: expected a boolean" % path)
    elif t == "string" or t == ["string", "null"]:
        what = "a string or null" if isinstance(t, list) else "a string"
        cfg("type-%s" % slug, with_value(path, "{a: 1}"), "%s: expected %s, got a mapping" % (path, what))
        cfg("type-%s-list" % slug, with_value(path, "[x]"), "%s: expected %s, got a list" % (path, what))
        cfg("empty-%s" % slug, with_value(path, "''"), "%s: expected a non-empty string" % path)
    else:
        sys.exit("gen_corpus: no wrong-type rule for %s (type %r)" % (path, t))

# ---- layer lists ---------------------------------------------------------
cfg("layers-empty", with_value("model.layers", "[]"), "model.layers: expected a list of at least 2")
cfg("layers-one", with_value("model.layers", "[3072]"), "model.layers: expected a list of at least 2")
cfg("layers-float", with_value("model.layers", "[3072, 1.5, 10]"), "model.layers[1]: expected an integer")
cfg("layers-string", with_value("model.layers", "[3072, abc, 10]"), "model.layers[1]: expected an integer")
cfg("layers-quoted", with_value("model.layers", "[3072, '64', 10]"), "model.layers[1]: expected an integer")
cfg("layers-null", with_value("model.layers", "[3072, null, 10]"), "model.layers[1]: expected an integer")
cfg("layers-negative", with_value("model.layers", "[3072, -64, 10]"), "model.layers[1]: expected an integer in")
cfg("layers-zero", with_value("model.layers", "[3072, 0, 10]"), "model.layers[1]: expected an integer in [1, 1048576]")
cfg("layers-too-wide", with_value("model.layers", "[3072, 1048577, 10]"), "model.layers[1]: expected an integer in")
cfg("layers-2pow64", with_value("model.layers", "[3072, 18446744073709551616, 10]"), "model.layers[1]: expected an integer in")
cfg("layers-nested", with_value("model.layers", "[[3072], 10]"), "model.layers[0]: expected an integer, got a list")
cfg("layers-map-item", with_value("model.layers", "[3072, {a: 1}, 10]"), "model.layers[1]: expected an integer, got a mapping")
cfg("layers-huge-product", with_value("model.layers", "[3072, 1048576, 1048576, 1048576, 10]"),
    "model.layers: expected at most 268435456 parameters")
cfg("layers-just-over-limit", with_value("model.layers", "[3072, 87070, 10]"),
    "model.layers: expected at most 268435456 parameters in total, got 268436820")
cfg("layers-many-huge", with_value("model.layers", "[3072" + ", 1048576" * 300 + ", 10]"),
    "model.layers: expected at most 268435456 parameters")
cfg("layers-long-list", with_value("model.layers", "[3072" + ", 1" * 100000 + ", 11]"),
    "model.layers[100001]: expected 10 (the number of classes)")
cfg("layers-input-mismatch", with_value("model.layers", "[3000, 10]"),
    "model.layers[0]: expected 3072 (the feature dimension of features.kind raw), got 3000")
cfg("layers-kmeans-mismatch",
    yaml_text(("features.kind", "kmeans"), ("features.kmeans.centroids", "128"),
              ("features.kmeans.patches", "1000")),
    "model.layers[0]: expected 512")
cfg("layers-not-10-classes", with_value("model.layers", "[3072, 64, 9]"),
    "model.layers[2]: expected 10 (the number of classes), got 9")
cfg("layers-100-classes", with_value("model.layers", "[3072, 100]"),
    "model.layers[1]: expected 10 (the number of classes), got 100")
cfg("layers-block-list-bad", "model:\n  layers:\n    - 3072\n    - x\n    - 10\n",
    "model.layers[1]: expected an integer")

# ---- rules across keys ---------------------------------------------------
cfg("contrast-min-gt-max", yaml_text(("augmentation.contrast.min", "3"), ("augmentation.contrast.max", "2")),
    "augmentation.contrast")
cfg("augmentation-nothing-enabled",
    yaml_text(("augmentation.enabled", "true"), ("augmentation.rotation.enabled", "false"),
              ("augmentation.cutout.enabled", "false"), ("augmentation.crop.enabled", "false"),
              ("augmentation.contrast.enabled", "false")), "augmentation.enabled")
cfg("validation-ge-train-limit", yaml_text(("data.validation", "200")), "data.validation")
cfg("centroids-gt-patches", yaml_text(("features.kmeans.centroids", "2000"), ("features.kmeans.patches", "1000")),
    "features.kmeans.centroids: expected at most features.kmeans.patches (1000), got 2000")
cfg("lr-min-gt-lr", yaml_text(("training.lr_min", "0.5"), ("training.learning_rate", "0.1")), "training.lr_min")
cfg("npy-missing-files", yaml_text(("features.kind", "npy")),
    "features.kind: expected features.npy.train to be set")
cfg("npy-augmented-alone", yaml_text(("features.kind", "npy"), ("features.npy.train", "a.npy"),
                                     ("features.npy.train_labels", "b.npy"), ("features.npy.test", "c.npy"),
                                     ("features.npy.test_labels", "d.npy"), ("features.npy.augmented", "e.npy")),
    "features.npy.augmented: expected features.npy.augmented_labels to be set too")
cfg("batch-larger-than-data", yaml_text(*NPY, ("training.batch_size", "21")),
    "training.batch_size: batch size 21 is larger than the 20 training rows", flags="runtime")
cfg("validation-eats-data", yaml_text(*NPY, ("data.validation", "19"), ("training.batch_size", "2")),
    "training.batch_size: batch size 2 is larger than the 1 training rows", flags="runtime")
cfg("npy-columns-mismatch", yaml_text(*NPY, ("model.layers", "[5, 10]")),
    "model.layers[0]: expected 4 (the number of columns in npy/x.npy), got 5", flags="runtime")
cfg("config-is-fifo", b"", "not a regular file",
    setup='# The experiment "file" is a FIFO nobody writes to: refused, never waited on.\n'
          'rm -f "$CASE"; mkfifo "$CASE"\n')


# ---- data problems (exit 4) ---------------------------------------------
def data(name, setup, fragment, code=4, flags="nofile", extra=None):
    text = with_value("data.dir", "d") if extra is None else extra
    add("data", name, text, code, fragment, flags,
        "# Build ./d from the good fixture ($GOOD), then break it.\n" + setup)


LINK_ALL = ('mkdir d\nfor f in "$GOOD"/*.bin; do ln -s "$f" d/; done\n')
data("missing-dir", "", "d/data_batch_1.bin: cannot open")
data("empty-dir", "mkdir d\n", "d/data_batch_1.bin: cannot open")
data("missing-batch-3", LINK_ALL + "rm d/data_batch_3.bin\n", "d/data_batch_3.bin: cannot open")
data("missing-test", LINK_ALL + "rm d/test_batch.bin\n", "d/test_batch.bin: cannot open")
data("truncated-batch-1", LINK_ALL + "rm d/data_batch_1.bin\n"
     "head -c 3073000 \"$GOOD/data_batch_1.bin\" >d/data_batch_1.bin\n", "d/data_batch_1.bin")
data("truncated-mid-record", LINK_ALL + "rm d/data_batch_1.bin\n"
     "head -c 30729999 \"$GOOD/data_batch_1.bin\" >d/data_batch_1.bin\n", "d/data_batch_1.bin")
data("empty-file", LINK_ALL + "rm d/data_batch_2.bin\n: >d/data_batch_2.bin\n", "d/data_batch_2.bin")
data("one-byte-too-long", LINK_ALL + "rm d/data_batch_5.bin\n"
     "cat \"$GOOD/data_batch_5.bin\" >d/data_batch_5.bin\nprintf x >>d/data_batch_5.bin\n",
     "d/data_batch_5.bin")
data("label-10", LINK_ALL + "rm d/data_batch_1.bin\ncp \"$GOOD/data_batch_1.bin\" d/\n"
     "printf '\\012' | dd of=d/data_batch_1.bin bs=1 seek=3073 conv=notrunc status=none\n",
     "d/data_batch_1.bin: record 1 (byte offset 3073): label 10, expected 0..9")
data("label-255-test", LINK_ALL + "rm d/test_batch.bin\ncp \"$GOOD/test_batch.bin\" d/\n"
     "printf '\\377' | dd of=d/test_batch.bin bs=1 seek=30726927 conv=notrunc status=none\n",
     "d/test_batch.bin")
data("directory-as-file", LINK_ALL + "rm d/data_batch_4.bin\nmkdir d/data_batch_4.bin\n",
     "d/data_batch_4.bin")
data("dir-is-a-file", "echo not a directory >d\n", "d/data_batch_1.bin")
data("dangling-symlink", LINK_ALL + "rm d/data_batch_1.bin\nln -s nowhere.bin d/data_batch_1.bin\n",
     "d/data_batch_1.bin: cannot open")
data("symlink-loop", LINK_ALL + "rm d/test_batch.bin\nln -s test_batch.bin d/test_batch.bin\n",
     "d/test_batch.bin: cannot open")
data("fifo-as-file", LINK_ALL + "rm d/data_batch_1.bin\nmkfifo d/data_batch_1.bin\n",
     "d/data_batch_1.bin")
data("unreadable-file", LINK_ALL + "rm d/data_batch_1.bin\ncp \"$GOOD/data_batch_1.bin\" d/\n"
     "chmod 000 d/data_batch_1.bin\n", "d/data_batch_1.bin: cannot open: Permission denied",
     flags="nofile,nobody")
data("unreadable-dir", LINK_ALL + "chmod 000 d\n", "d/data_batch_1.bin: cannot open: Permission denied",
     flags="nofile,nobody")
data("npy-missing", "", "missing.npy",
     extra=yaml_text(("features.kind", "npy"), ("features.npy.train", "missing.npy"),
                     ("features.npy.train_labels", "y.npy"), ("features.npy.test", "missing.npy"),
                     ("features.npy.test_labels", "y.npy"), ("model.layers", "[4, 10]")))
data("npy-not-npy", "echo 'this is not numpy' >x.npy\nprintf '\\x93NUMPY' >y.npy\n", "x.npy",
     extra=yaml_text(("features.kind", "npy"), ("features.npy.train", "x.npy"),
                     ("features.npy.train_labels", "y.npy"), ("features.npy.test", "x.npy"),
                     ("features.npy.test_labels", "y.npy"), ("model.layers", "[4, 10]")))


# ---- output problems (exit 5) -------------------------------------------
def output(name, setup, fragment, text=None, flags="nofile", code=5):
    if text is None:
        text = yaml_text(*NPY, ("output.dir", "out"), ("output.database", "out/results.db"))
    add("output", name, text, code, fragment, flags,
        "# Features in ./npy; prepare ./out, then break it.\n" + setup)


output("results-dir-is-file", "echo file >out\n", "out")
output("db-parent-is-file",
       "mkdir out\necho file >out/sub\n",
       "out/sub", text=yaml_text(*NPY, ("output.dir", "out"), ("output.database", "out/sub/results.db")))
output("db-is-directory", "mkdir -p out/results.db\n", "out/results.db")
output("db-not-sqlite", "mkdir out\necho 'epoch,loss' >out/results.db\nseq 1 1000 >>out/results.db\n",
       "out/results.db")
output("db-binary-junk", "mkdir out\nhead -c 8192 /dev/urandom >out/results.db\n", "out/results.db")
output("db-sqlite-header-junk",
       "mkdir out\n{ printf 'SQLite format 3\\000'; head -c 4080 /dev/zero | tr '\\0' '\\377'; } >out/results.db\n",
       "out/results.db")
output("db-foreign-sqlite",
       "mkdir out\nsqlite3 out/results.db 'CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);"
       " INSERT INTO notes(body) VALUES (\"keep me\");'\n", "out/results.db")
output("db-newer-schema",
       "mkdir out\ncp res/results.db out/results.db\nsqlite3 out/results.db 'PRAGMA user_version = 99'\n",
       "out/results.db")
output("db-readonly-file",
       "mkdir out\ncp res/results.db out/results.db\nchmod 444 out/results.db\nchmod 777 out\n",
       "out/results.db", flags="nofile,nobody")
output("results-dir-not-writable",
       "mkdir -m 555 out\n", "out", flags="nofile,nobody")
output("db-dir-not-writable",
       "mkdir -m 777 out\nmkdir -m 555 out/db\n", "out/db",
       text=yaml_text(*NPY, ("output.dir", "out"), ("output.database", "out/db/results.db")),
       flags="nofile,nobody")
output("disk-full-new-db", "mkdir out\n", "out/results.db", flags="nofile,fsize,creates,recover")
output("disk-full-existing-db", "mkdir out\ncp res/results.db out/results.db\n", "out",
       flags="nofile,fsize,recover")


# ---- command-line problems (exit 2) --------------------------------------
# A usage/*.args file holds the arguments, one per line; the message is the
# first line of stderr, followed by the usage text.
def usage(name, args, fragment):
    add("usage", name, "".join(a + "\n" for a in args), 2, fragment, "usage")


usage("no-arguments", [], "usage: runner")
usage("run-without-file", ["run"], "runner: missing experiment file")
usage("db-without-value", ["run", "x.yaml", "--db"], "runner: --db needs a value")
usage("results-dir-without-value", ["run", "x.yaml", "--results-dir"], "runner: --results-dir needs a value")
usage("threads-zero", ["run", "x.yaml", "--threads", "0"],
      "runner: --threads: expected an integer from 1 to 256, got '0'")
usage("threads-too-many", ["x.yaml", "--threads", "257"], "expected an integer from 1 to 256, got '257'")
usage("threads-negative", ["x.yaml", "--threads", "-1"], "expected an integer from 1 to 256, got '-1'")
usage("threads-word", ["x.yaml", "-t", "all"], "expected an integer from 1 to 256, got 'all'")
usage("unknown-option", ["run", "x.yaml", "--bogus"], "runner: unknown option '--bogus'")
usage("two-files", ["run", "a.yaml", "b.yaml"], "runner: unexpected argument 'b.yaml'")
usage("validate-nothing", ["validate"], "runner: validate needs at least one file")
usage("schema-argument", ["schema", "x"], "runner: schema takes no arguments")


# ---- write everything ----------------------------------------------------
def main():
    for kind in ("config", "data", "output", "usage"):
        d = os.path.join(CORPUS, kind)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
    lines = ["# generated by tests/corpus/gen_corpus.py; FILE\tEXIT\tFRAGMENT\tFLAGS"]
    for rel, content, code, fragment, flags, setup in cases:
        assert "\t" not in fragment and "\n" not in fragment
        with open(os.path.join(CORPUS, rel), "wb") as f:
            f.write(content)
        if setup is not None:
            with open(os.path.join(CORPUS, rel.rsplit(".", 1)[0] + ".setup"), "w") as f:
                f.write(setup)
        lines.append("%s\t%d\t%s\t%s" % (rel, code, fragment, flags))
    with open(os.path.join(CORPUS, "manifest.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("gen_corpus: %d cases" % len(cases))


main()
