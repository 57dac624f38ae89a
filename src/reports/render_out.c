/* render_out: the writer, number formatting and text escaping shared by the
 * SVG and HTML renderers. See render_internal.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "render_internal.h"

void wr_str(struct wr *w, const char *s)
{
    if (!w->bad && fputs(s, w->f) == EOF) {
        w->bad = true;
        w->errnum = errno;
    }
}

void wr_fmt(struct wr *w, const char *fmt, ...)
{
    if (w->bad)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vfprintf(w->f, fmt, ap) < 0) {
        w->bad = true;
        w->errnum = errno;
    }
    va_end(ap);
}

/* Fixed notation built from integers only, so the C library's locale
 * (LC_NUMERIC decimal point, grouping) can never change it. */
static void fixed(char *out, size_t cap, double x, int decimals)
{
    unsigned long long scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10u;
    double a = fabs(x) * (double)scale + 0.5;
    unsigned long long v = (unsigned long long)a;
    unsigned long long ip = v / scale, fp = v % scale;
    const char *sign = (x < 0 && v != 0) ? "-" : "";
    if (decimals > 0)
        snprintf(out, cap, "%s%llu.%0*llu", sign, ip, decimals, fp);
    else
        snprintf(out, cap, "%s%llu", sign, ip);
}

void wr_num(struct wr *w, double x, int decimals)
{
    char buf[64];
    if (!isfinite(x))
        x = 0.0;
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    if (fabs(x) < 1e9) {
        fixed(buf, sizeof buf, x, decimals);
        wr_str(w, buf);
        return;
    }
    /* Large magnitudes: mantissa with three decimals and an exponent. */
    int e = (int)floor(log10(fabs(x)));
    double m = x / pow(10.0, e);
    if (fabs(m) >= 9.9995) {
        m /= 10.0;
        e++;
    }
    fixed(buf, sizeof buf, m, 3);
    wr_str(w, buf);
    wr_fmt(w, "e%d", e);
}

void wr_coord(struct wr *w, double x)
{
    char buf[64];
    if (!isfinite(x) || fabs(x) >= 1e9)
        x = 0.0; /* geometry is always well inside this */
    fixed(buf, sizeof buf, x, 2);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '0')
        buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '.')
        buf[--n] = '\0';
    if (strcmp(buf, "-0") == 0 || n == 0)
        strcpy(buf, "0");
    wr_str(w, buf);
}

/* Length of the valid UTF-8 sequence at s (1..4) with its code point, or 0
 * if the bytes there are not valid UTF-8 (overlong, surrogate, > U+10FFFF,
 * truncated). */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        *cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        *cp = c & 0x0Fu;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        *cp = c & 0x07u;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        unsigned b = s[i];
        unsigned min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
        if (b < min || b > max)
            return 0;
        *cp = (*cp << 6) | (b & 0x3Fu);
    }
    return len;
}

void wr_text(struct wr *w, const char *s, size_t max_cp)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t count = 0;
    while (*p) {
        if (max_cp && count == max_cp) {
            wr_str(w, "\xE2\x80\xA6"); /* U+2026 horizontal ellipsis */
            return;
        }
        uint32_t cp;
        size_t len = utf8_next(p, &cp);
        count++;
        if (len == 0) {
            wr_str(w, "\xEF\xBF\xBD"); /* U+FFFD replacement character */
            p++;
            continue;
        }
        char one[5] = {0};
        switch (cp) {
        case '&': wr_str(w, "&amp;"); break;
        case '<': wr_str(w, "&lt;"); break;
        case '>': wr_str(w, "&gt;"); break;
        case '"': wr_str(w, "&quot;"); break;
        case '\'': wr_str(w, "&#39;"); break;
        default:
            if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
                wr_str(w, " ");
            } else if (cp == 0xFFFE || cp == 0xFFFF) {
                wr_str(w, "\xEF\xBF\xBD");
            } else {
                memcpy(one, p, len);
                wr_str(w, one);
            }
        }
        p += len;
    }
}

int wr_finish(struct wr *w, const char *what, struct rn_err *err)
{
    int e = w->errnum;
    if (!w->bad && fflush(w->f) != 0)
        e = errno;
    if (w->bad || e || ferror(w->f))
        return rn_fail(err, RN_ERR_OUTPUT, "cannot write the %s%s%s", what, e ? ": " : "",
                       e ? strerror(e) : "");
    return RN_OK;
}
