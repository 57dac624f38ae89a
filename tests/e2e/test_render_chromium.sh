#!/usr/bin/env bash
# Rendering test in a real browser: plot_demo (tests/tools/plot_demo.c)
# writes a learning-curve SVG and an HTML report from synthetic curves
# through the library's plot_svg_write / report_html_write; headless
# Chromium screenshots each to a PNG with every network request refused;
# python3 then decodes the PNG (zlib + PNG row filters) and checks the size
# (1200x900), that it is not blank, and that both runs' colours (#0072B2 and
# #D55E00) appear. A blank page is screenshotted too and must be reported
# blank, so the checker itself is shown able to fail.
#
# Skips (exit 77, ctest SKIP_RETURN_CODE) with a message only when Chromium
# (Debian package "chromium") or python3 is absent.
#
# Environment: RUNNER_BUILD_DIR (set by ctest) holds plot_demo.
set -euo pipefail

build=${RUNNER_BUILD_DIR:?RUNNER_BUILD_DIR is not set (run through ctest)}
demo=$build/plot_demo
if [[ ! -x $demo ]]; then
  echo "test_render_chromium: $demo is missing (build the test tools)" >&2
  exit 1
fi
browser=
for b in chromium chromium-browser; do
  if command -v "$b" >/dev/null 2>&1; then browser=$(command -v "$b"); break; fi
done
if [[ -z $browser ]]; then
  echo "test_render_chromium: SKIPPED: Chromium is not installed (Debian: apt-get install chromium)"
  exit 77
fi
python=
for p in /usr/bin/python3 python3; do
  if command -v "$p" >/dev/null 2>&1; then python=$(command -v "$p"); break; fi
done
if [[ -z $python ]]; then
  echo "test_render_chromium: SKIPPED: python3 is not installed (needed to decode the PNG)"
  exit 77
fi

work=$(mktemp -d -- "${TMPDIR:-/tmp}/test_render_chromium.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

failed=0
fail() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }

# shot NAME FILE: screenshot file://FILE to $work/NAME.png (fresh profile,
# no network: every host resolves to nothing).
shot() {
  local name=$1 file=$2
  if ! timeout 60 "$browser" --headless --no-sandbox --disable-gpu \
      --user-data-dir="$work/profile-$name" --window-size=1200,900 \
      --hide-scrollbars --no-first-run --no-default-browser-check \
      --host-resolver-rules='MAP * ~NOTFOUND' \
      --screenshot="$work/$name.png" "file://$file" >"$work/$name.log" 2>&1; then
    echo "chromium output for $name:" >&2
    tail -n 20 "$work/$name.log" >&2
    fail "chromium could not render $file"
    return 1
  fi
  if [[ ! -s $work/$name.png ]]; then
    fail "chromium wrote no screenshot for $file"
    return 1
  fi
}

# check_png PNG EXPECT: EXPECT is "curves" (two runs' colours, not blank) or
# "blank". Prints what it measured.
check_png() {
  "$python" - "$1" "$2" <<'PY'
import struct, sys, zlib

path, expect = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
def die(msg):
    print(f"{path}: {msg}")
    sys.exit(1)
if data[:8] != b"\x89PNG\r\n\x1a\n":
    die("not a PNG file")
pos, idat, ihdr = 8, [], None
while pos + 8 <= len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat.append(body)
    elif kind == b"IEND":
        break
    pos += 12 + n
if not ihdr:
    die("no IHDR chunk")
w, h, depth, ctype, _, _, interlace = ihdr
if (w, h) != (1200, 900):
    die(f"size {w}x{h}, expected 1200x900")
if depth != 8 or ctype not in (2, 6) or interlace != 0:
    die(f"unsupported PNG format (depth {depth}, colour type {ctype}, interlace {interlace})")
bpp = 4 if ctype == 6 else 3
raw = zlib.decompress(b"".join(idat))
stride = w * bpp
if len(raw) != h * (stride + 1):
    die(f"image data is {len(raw)} bytes, expected {h * (stride + 1)}")
prev = bytearray(stride)
pixels = bytearray()
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if f == 1:
        for i in range(bpp, stride):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif f == 2:
        line = bytearray((a + b) & 255 for a, b in zip(line, prev))
    elif f == 3:
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
    elif f == 4:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            line[i] = (line[i] + pred) & 255
    elif f != 0:
        die(f"bad filter type {f} in row {y}")
    pixels += line
    prev = line
colours = {}
for i in range(0, len(pixels), bpp):
    key = bytes(pixels[i:i + 3])
    colours[key] = colours.get(key, 0) + 1
total = w * h
nonwhite = total - colours.get(b"\xff\xff\xff", 0)
def near(rgb, tol=10):
    return sum(c for k, c in colours.items() if all(abs(k[j] - rgb[j]) <= tol for j in range(3)))
blue, vermillion = near((0x00, 0x72, 0xB2)), near((0xD5, 0x5E, 0x00))
print(f"{path}: {w}x{h}, {len(colours)} distinct colours, {nonwhite} non-white pixels, "
      f"run 1 colour {blue} px, run 2 colour {vermillion} px")
if expect == "blank":
    sys.exit(0 if nonwhite == 0 or len(colours) <= 1 else 1)
if nonwhite < total // 100 or len(colours) < 16:
    die("looks blank")
if blue < 100 or vermillion < 100:
    die("the two runs' curves are not visible")
PY
}

"$demo" html "$work/report.html" 2 20
"$demo" svg "$work/curves.svg" 2 20
printf '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>blank</title></head><body></body></html>\n' \
  >"$work/blank.html"

if shot report "$work/report.html"; then
  check_png "$work/report.png" curves || fail "the HTML report did not render as expected"
fi
if shot svg "$work/curves.svg"; then
  check_png "$work/svg.png" curves || fail "the standalone SVG did not render as expected"
fi
if shot blank "$work/blank.html"; then
  check_png "$work/blank.png" blank || fail "the checker did not recognise a blank page"
fi

if ((failed)); then
  echo "test_render_chromium: $failed failure(s)" >&2
  exit 1
fi
echo "test_render_chromium: ok"
