/* test_plot: the learning-curve SVG and the HTML report — well-formed XML
 * (a small checker here, and python3's parser when present), hostile labels
 * escaped, one path per run and series, gaps for missing values, never
 * "nan"/"inf", nice ticks for awkward ranges, one epoch, many runs, flat and
 * huge values, no runs, write errors, and output independent of the locale. */
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "runner/plot.h"

/* ---- helpers ---------------------------------------------------------- */

/* Render into a malloc'd string; *rc gets the status. */
static char *render(int html, const struct plot_run *runs, size_t n, const char *title,
                    const char *table, int *rc, struct rn_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        perror("open_memstream");
        exit(1);
    }
    *rc = html ? report_html_write(f, title, table, runs, n, err)
               : plot_svg_write(f, runs, n, title, err);
    fclose(f);
    return buf;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t c = 0, nl = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + nl, needle))
        c++;
    return c;
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, nl) == 0)
            return 1;
    return 0;
}

/* Strict UTF-8 check (no overlongs, surrogates or > U+10FFFF). */
static int utf8_valid(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s;
        size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                                 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        if (!len)
            return 0;
        for (size_t i = 1; i < len; i++) {
            unsigned lo = 0x80, hi = 0xBF;
            if (i == 1 && c == 0xE0) lo = 0xA0;
            if (i == 1 && c == 0xED) hi = 0x9F;
            if (i == 1 && c == 0xF0) lo = 0x90;
            if (i == 1 && c == 0xF4) hi = 0x8F;
            if (s[i] < lo || s[i] > hi)
                return 0;
        }
        s += len;
    }
    return 1;
}

/* A small XML well-formedness checker: balanced and properly nested tags,
 * quoted attributes, known entities only, no raw '<' or '&' in text, no
 * control characters. Returns NULL if fine, else a description. */
static const char *xml_check(const char *s)
{
    static char why[128];
    char stack[64][48];
    size_t depth = 0, roots = 0;
    const char *p = s;
    if (strncmp(p, "<?xml", 5) == 0) {
        p = strstr(p, "?>");
        if (!p)
            return "unterminated XML declaration";
        p += 2;
    }
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
            return "control character";
        if (c == '&') {
            static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
            int ok = 0;
            for (size_t i = 0; i < 5; i++)
                if (strncmp(p, ents[i], strlen(ents[i])) == 0)
                    ok = 1;
            if (!ok)
                return "bad entity";
            continue;
        }
        if (c == '>')
            return "raw '>' in text";
        if (c != '<')
            continue;
        int closing = p[1] == '/';
        const char *n = p + 1 + closing;
        size_t nl = strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-:_");
        if (nl == 0 || nl >= 48)
            return "bad tag name";
        const char *q = n + nl;
        /* attributes */
        for (;;) {
            q += strspn(q, " \n\t");
            if (*q == '>' || (*q == '/' && q[1] == '>'))
                break;
            if (closing)
                return "attribute in a closing tag";
            size_t al = strspn(q, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-:_");
            if (al == 0 || q[al] != '=' || q[al + 1] != '"')
                return "bad attribute";
            const char *e = strchr(q + al + 2, '"');
            if (!e)
                return "unterminated attribute";
            for (const char *a = q + al + 2; a < e; a++)
                if (*a == '<')
                    return "'<' in an attribute";
            q = e + 1;
        }
        int selfclose = *q == '/';
        if (closing) {
            if (depth == 0 || strlen(stack[depth - 1]) != nl || strncmp(stack[depth - 1], n, nl))
                return "mismatched closing tag";
            depth--;
        } else if (!selfclose) {
            if (depth == 64)
                return "too deep";
            if (depth == 0)
                roots++;
            memcpy(stack[depth], n, nl);
            stack[depth][nl] = '\0';
            depth++;
        } else if (depth == 0) {
            roots++;
        }
        p = q + selfclose;
    }
    if (depth) {
        snprintf(why, sizeof why, "unclosed <%s>", stack[depth - 1]);
        return why;
    }
    if (roots != 1)
        return "not exactly one root element";
    return NULL;
}

/* python3's XML parser on the text, when /usr/bin/python3 exists:
 * 1 parsed, 0 failed, -1 not available. */
static int python_parses(const char *text)
{
    if (access("/usr/bin/python3", X_OK) != 0)
        return -1;
    char path[] = "/tmp/test_plot.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import sys,xml.etree.ElementTree as E; E.parse(sys.argv[1])' "
             "%s",
             path);
    int st = ok ? system(cmd) : -1;
    unlink(path);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void check_clean_svg(const char *svg, const char *what)
{
    const char *why = xml_check(svg);
    CHECK_MSG(why == NULL, "%s: %s", what, why ? why : "");
    CHECK_MSG(utf8_valid((const unsigned char *)svg), "%s: invalid UTF-8", what);
    CHECK_MSG(!contains_ci(svg, "nan"), "%s: contains nan", what);
    CHECK_MSG(!contains_ci(svg, "inf"), "%s: contains inf", what);
}

/* Synthetic curves. */
#define MAXE 200
struct curves {
    double ep[MAXE], trl[MAXE], tel[MAXE], tra[MAXE], tea[MAXE];
};

static void fill(struct curves *c, size_t n, double shift)
{
    for (size_t i = 0; i < n; i++) {
        double t = (double)(i + 1);
        c->ep[i] = t;
        c->trl[i] = 1.0 + exp(-0.2 * t) + shift;
        c->tel[i] = 1.2 + exp(-0.2 * t) + shift;
        c->tra[i] = 0.6 - 0.4 * exp(-0.2 * t);
        c->tea[i] = 0.5 - 0.3 * exp(-0.2 * t);
    }
}

static struct plot_run run_of(const char *label, struct curves *c, size_t n)
{
    return (struct plot_run){label, n, c->ep, c->trl, c->tel, c->tra, c->tea};
}

/* ---- tests ------------------------------------------------------------ */

static int is_nice_step(double step)
{
    double e = floor(log10(step) + 1e-9);
    double m = step / pow(10.0, e);
    return fabs(m - 1.0) < 1e-6 || fabs(m - 2.0) < 1e-6 || fabs(m - 5.0) < 1e-6;
}

static void test_ticks(void)
{
    struct plot_ticks t;
    plot_nice_ticks(0.0, 1.0, 5, false, &t);
    CHECK_NEAR(t.lo, 0.0, 1e-12);
    CHECK_NEAR(t.hi, 1.0, 1e-12);
    CHECK_NEAR(t.step, 0.2, 1e-12);
    CHECK(t.n == 6);
    CHECK(t.decimals == 1);

    plot_nice_ticks(0.5, 0.51, 5, false, &t);
    CHECK_NEAR(t.step, 0.002, 1e-12);
    CHECK_NEAR(t.lo, 0.5, 1e-12);
    CHECK_NEAR(t.hi, 0.51, 1e-12);
    CHECK(t.n == 6);
    CHECK(t.decimals == 3);

    plot_nice_ticks(1.0, 120.0, 8, true, &t);
    CHECK_NEAR(t.step, 20.0, 1e-12);
    CHECK_NEAR(t.lo, 0.0, 1e-12);
    CHECK_NEAR(t.hi, 120.0, 1e-12);
    CHECK(t.n == 7);
    CHECK(t.decimals == 0);

    /* One epoch: widened to integer ticks around it. */
    plot_nice_ticks(1.0, 1.0, 8, true, &t);
    CHECK_NEAR(t.step, 1.0, 1e-12);
    CHECK(t.lo <= 0.0 && t.hi >= 2.0 && t.n >= 3);
    CHECK(t.decimals == 0);
    /* Few epochs never give fractional epoch ticks. */
    plot_nice_ticks(1.0, 3.0, 8, true, &t);
    CHECK_NEAR(t.step, 1.0, 1e-12);
    CHECK_NEAR(t.lo, 1.0, 1e-12);
    CHECK(t.n == 3);

    /* Flat curves: a zero range is widened and still contains the value. */
    plot_nice_ticks(0.7, 0.7, 5, false, &t);
    CHECK(t.lo < 0.7 && t.hi > 0.7 && t.n >= 2 && is_nice_step(t.step));
    plot_nice_ticks(0.0, 0.0, 5, false, &t);
    CHECK(t.lo < 0.0 && t.hi > 0.0);
    plot_nice_ticks(-3.0, -3.0, 5, false, &t);
    CHECK(t.lo < -3.0 && t.hi > -3.0);

    /* Reversed and non-finite arguments are tolerated. */
    plot_nice_ticks(10.0, 2.0, 5, false, &t);
    CHECK(t.lo <= 2.0 && t.hi >= 10.0);
    plot_nice_ticks(NAN, INFINITY, 5, false, &t);
    CHECK(isfinite(t.lo) && isfinite(t.hi) && isfinite(t.step) && t.hi > t.lo);
    plot_nice_ticks(-1e308, 1e308, 5, false, &t);
    CHECK(isfinite(t.lo) && isfinite(t.hi) && isfinite(t.step) && t.hi > t.lo && t.n >= 2);

    /* Properties over many ranges: covers the data, 1-2-5 steps, a sane
     * number of ticks, hi = lo + (n-1) step. */
    uint64_t s = 12345;
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u1 = (double)(s >> 11) / 9007199254740992.0;
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u2 = (double)(s >> 11) / 9007199254740992.0;
        double scale = pow(10.0, floor(u1 * 12.0) - 6.0);
        double lo = (u1 - 0.5) * 100.0 * scale, hi = lo + u2 * 50.0 * scale;
        size_t target = 2 + (size_t)(i % 9);
        plot_nice_ticks(lo, hi, target, false, &t);
        double tol = 1e-9 * fmax(fabs(lo), fabs(hi)) + 1e-300;
        if (!(t.lo <= lo + tol && t.hi >= hi - tol) || !is_nice_step(t.step) || t.n < 2 ||
            t.n > 2 * target + 2 ||
            fabs(t.lo + (double)(t.n - 1) * t.step - t.hi) > 1e-6 * t.step) {
            if (bad++ < 5)
                fprintf(stderr, "ticks for [%g, %g] target %zu: lo %g hi %g step %g n %zu\n", lo,
                        hi, target, t.lo, t.hi, t.step, t.n);
        }
    }
    CHECK(bad == 0);
}

static void test_basic_svg(void)
{
    static struct curves a, b;
    fill(&a, 20, 0.0);
    fill(&b, 20, 0.1);
    struct plot_run runs[2] = {run_of("original", &a, 20), run_of("augmented", &b, 20)};
    struct rn_err err = {0};
    int rc;
    char *svg = render(0, runs, 2, "Two runs", NULL, &rc, &err);
    CHECK(rc == RN_OK);
    check_clean_svg(svg, "basic");
    CHECK(strncmp(svg, "<?xml", 5) == 0);
    CHECK_STR_CONTAINS(svg, "xmlns=\"http://www.w3.org/2000/svg\"");
    CHECK_STR_CONTAINS(svg, "width=\"1000\"");
    CHECK_STR_CONTAINS(svg, "viewBox=\"0 0 1000 ");
    CHECK(count_of(svg, "<path class=\"train\"") == 4);
    CHECK(count_of(svg, "<path class=\"test\"") == 4);
    CHECK(count_of(svg, "stroke-dasharray=\"6 4\" d=") == 4); /* train lines dashed */
    CHECK_STR_CONTAINS(svg, ">original</text>");
    CHECK_STR_CONTAINS(svg, ">augmented</text>");
    CHECK_STR_CONTAINS(svg, ">Two runs</text>");
    CHECK_STR_CONTAINS(svg, ">epoch</text>");
    CHECK_STR_CONTAINS(svg, ">accuracy (%)</text>");
    CHECK_STR_CONTAINS(svg, ">cross-entropy loss</text>");
    /* Two distinct colours, the first two of the palette. */
    CHECK_STR_CONTAINS(svg, "stroke=\"#0072B2\"");
    CHECK_STR_CONTAINS(svg, "stroke=\"#D55E00\"");
    /* Epoch ticks 0..20 at 5s (target 8 gives step 5 for 19 epochs... or 2) */
    CHECK_STR_CONTAINS(svg, "class=\"xtick\"");
    CHECK(python_parses(svg) != 0);
    /* Same input, same bytes. */
    char *again = render(0, runs, 2, "Two runs", NULL, &rc, &err);
    CHECK(again && strcmp(svg, again) == 0);
    free(again);
    free(svg);
}

static void test_hostile_labels(void)
{
    static struct curves a, b, c;
    fill(&a, 5, 0.0);
    fill(&b, 5, 0.0);
    fill(&c, 5, 0.0);
    const char *evil = "<script>alert(\"x\")</script> & 'q' caf\xc3\xa9 \xff\xfe \xc3\x28"
                       "\x01\x1b\xc0\xaf\xed\xa0\x80\xc2\x85\xf4\x90\x80\x80\xe2\x82";
    const char *title = "t<i>tle & \"co\" \x07";
    struct plot_run runs[3] = {run_of(evil, &a, 5), run_of("", &b, 5), run_of(NULL, &c, 5)};
    struct rn_err err = {0};
    int rc;
    char *svg = render(0, runs, 3, title, NULL, &rc, &err);
    CHECK(rc == RN_OK);
    check_clean_svg(svg, "hostile");
    CHECK(!strstr(svg, "<script"));
    CHECK(!strstr(svg, "<i>"));
    CHECK_STR_CONTAINS(svg, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;");
    CHECK_STR_CONTAINS(svg, "\xEF\xBF\xBD");     /* replacement characters */
    CHECK_STR_CONTAINS(svg, "caf\xc3\xa9");       /* valid UTF-8 kept */
    CHECK_STR_CONTAINS(svg, "t&lt;i&gt;tle &amp; &quot;co&quot;");
    CHECK_STR_CONTAINS(svg, ">run 2</text>");     /* empty label */
    CHECK_STR_CONTAINS(svg, ">run 3</text>");     /* NULL label */
    CHECK(python_parses(svg) != 0);
    free(svg);

    /* A very long label is cut with an ellipsis. */
    char longl[400];
    memset(longl, 'x', sizeof longl - 1);
    longl[sizeof longl - 1] = '\0';
    runs[0].label = longl;
    svg = render(0, runs, 1, NULL, NULL, &rc, &err);
    CHECK(rc == RN_OK);
    CHECK(!strstr(svg, longl + 300));
    CHECK_STR_CONTAINS(svg, "\xE2\x80\xA6");
    CHECK_STR_CONTAINS(svg, ">Learning curves</text>"); /* default title */
    free(svg);
}

static void test_missing_values(void)
{
    static struct curves a, b;
    fill(&a, 10, 0.0);
    fill(&b, 10, 0.0);
    a.tel[4] = NAN;        /* a gap in the middle: two subpaths */
    a.tra[0] = INFINITY;   /* a missing first point */
    a.tea[9] = -INFINITY;
    for (size_t i = 0; i < 10; i++)
        b.trl[i] = NAN;    /* a whole series missing: no path */
    struct plot_run runs[2] = {run_of("gappy", &a, 10), run_of("no train loss", &b, 10)};
    runs[1].test_acc = NULL; /* an absent series */
    struct rn_err err = {0};
    int rc;
    char *svg = render(0, runs, 2, "gaps", NULL, &rc, &err);
    CHECK(rc == RN_OK);
    check_clean_svg(svg, "missing");
    CHECK(count_of(svg, "<path class=\"train\"") == 3);
    CHECK(count_of(svg, "<path class=\"test\"") == 3);
    /* The test-loss path of run 1 has two subpaths ("M" twice). */
    const char *p = strstr(svg, "<path class=\"test\"");
    const char *d = p ? strstr(p, " d=\"") : NULL;
    const char *e = d ? strchr(d + 4, '"') : NULL;
    size_t ms = 0;
    for (const char *q = d; q && q < e; q++)
        ms += *q == 'M';
    CHECK(ms == 2);
    free(svg);

    /* Nothing plottable at all: still a valid picture, marked "no data". */
    for (size_t i = 0; i < 10; i++)
        a.trl[i] = a.tel[i] = a.tra[i] = a.tea[i] = NAN;
    svg = render(0, runs, 1, "empty", NULL, &rc, &err);
    CHECK(rc == RN_OK);
    check_clean_svg(svg, "all missing");
    CHECK(count_of(svg, ">no data</text>") == 2);
    CHECK(count_of(svg, "<path class=") == 0);
    free(svg);

    /* epoch NULL means 1..n; a run with no points is only a legend entry. */
    fill(&a, 10, 0.0);
    runs[0].epoch = NULL;
    runs[1] = (struct plot_run){"nothing yet", 0, NULL, NULL, NULL, NULL, NULL};
    svg = render(0, runs, 2, "null epochs", NULL, &rc, &err);
    CHECK(rc == RN_OK);
    check_clean_svg(svg, "null epochs");
    CHECK(count_of(svg, "<path class=") == 4);
    CHECK_STR_CONTAINS(svg, ">nothing yet</text>");
    free(svg);
}

static void test_single_epoch_and_flat(void)
{
    static struct curves a;
    fill(&a, 1, 0.0);
    struct plot_run r = run_of("one", &a, 1);
    struct rn_err err = {0};
    int rc;
    char *svg = render(0, &r, 1, "one epoch", NULL, &rc, &err);
    CHECK(rc == RN_OK);
    check_clean_svg(svg, "one epoch");
    CHECK(count_of(svg, "<path class=") == 4);
    CHECK(count_of(svg, " a2 2 0 1 0 4 0") == 4); /* a lone point is a visible ring */
    CHECK_STR_CONTAINS(svg, "class=\"xtick\" x=\"");
    free(svg);

    fill(&a, 30, 0.0);
    for (size_t i = 0; i < 30; i++) {
        a.trl[i] = a.tel[i] = 0.25;
        a.tra[i] = a.tea[i] = 1.0;
    }
    r = run_of("flat", &a, 30);
    svg = render(0, &r, 1, "flat", NULL, &rc, &err);
    CHECK(rc == RN_OK);
    check_clean_svg(svg, "flat");
    CHECK(count_of(svg, "<path class=") == 4);
    free(svg);

    /* Awkward range: loss in 0.5..0.51 gets ticks 0.500, 0.502, ... */
    for (size_t i = 0; i < 30; i++) {
        a.trl[i] = 0.5 + 0.01 * (double)i / 29.0;
        a.tel[i] = 0.51 - 0.01 * (double)i / 29.0;
    }
    svg = render(0, &r, 1, "narrow", NULL, &rc, &err);
    CHECK(rc == RN_OK);
    CHECK_STR_CONTAINS(svg, "text-anchor=\"end\">0.500</text>");
    CHECK_STR_CONTAINS(svg, "text-anchor=\"end\">0.502</text>");
    CHECK_STR_CONTAINS(svg, "text-anchor=\"end\">0.510</text>");
    free(svg);

    /* Huge and tiny values stay finite and well-formed. */
    for (size_t i = 0; i < 30; i++) {
        a.trl[i] = 1e200 * (double)(i + 1);
        a.tel[i] = -1e-200;
    }
    svg = render(0, &r, 1, "huge", NULL, &rc, &err);
    CHECK(rc == RN_OK);
    check_clean_svg(svg, "huge");
    CHECK_STR_CONTAINS(svg, "e200<");
    free(svg);
}

static void test_many_runs(void)
{
    enum { N = 20 };
    static struct curves c[N];
    struct plot_run runs[N];
    char labels[N][16];
    for (size_t i = 0; i < N; i++) {
        fill(&c[i], 120, 0.01 * (double)i);
        snprintf(labels[i], sizeof labels[i], "seed %zu", i);
        runs[i] = run_of(labels[i], &c[i], 120);
    }
    struct rn_err err = {0};
    int rc;
    char *svg = render(0, runs, N, "many", NULL, &rc, &err);
    CHECK(rc == RN_OK);
    check_clean_svg(svg, "many");
    CHECK(count_of(svg, "<path class=\"train\"") == 2 * N);
    CHECK(count_of(svg, "<path class=\"test\"") == 2 * N);
    CHECK(count_of(svg, "class=\"legend-entry\"") == N);
    /* Runs past the palette get markers, so no two runs look the same. */
    CHECK(count_of(svg, "<marker id=") == N - 7);
    CHECK_STR_CONTAINS(svg, "marker-mid=\"url(#rn-mk-7)\"");
    /* 120 epochs: ticks at 0, 20, ..., 120 */
    CHECK_STR_CONTAINS(svg, "text-anchor=\"middle\">120</text>");
    CHECK_STR_CONTAINS(svg, "text-anchor=\"middle\">20</text>");
    CHECK(python_parses(svg) != 0);
    free(svg);
}

static void test_errors(void)
{
    static struct curves a;
    fill(&a, 5, 0.0);
    struct plot_run r = run_of("x", &a, 5);
    struct rn_err err = {0};
    int rc;
    char *s = render(0, &r, 0, "none", NULL, &rc, &err);
    CHECK(rc == RN_ERR_USAGE);
    CHECK_STR_CONTAINS(err.msg, "no runs");
    free(s);
    s = render(1, NULL, 0, "none", NULL, &rc, &err);
    CHECK(rc == RN_ERR_USAGE);
    free(s);

    /* Write errors: /dev/full accepts nothing. */
    FILE *f = fopen("/dev/full", "w");
    if (f) {
        memset(&err, 0, sizeof err);
        CHECK(plot_svg_write(f, &r, 1, "x", &err) == RN_ERR_OUTPUT);
        CHECK_STR_CONTAINS(err.msg, "SVG");
        fclose(f);
        f = fopen("/dev/full", "w");
        memset(&err, 0, sizeof err);
        CHECK(report_html_write(f, "x", "<p>t</p>", &r, 1, &err) == RN_ERR_OUTPUT);
        CHECK_STR_CONTAINS(err.msg, "HTML");
        fclose(f);
    } else {
        printf("test_plot: /dev/full absent; write-error part skipped\n");
    }
}

static void test_html(void)
{
    static struct curves a, b;
    fill(&a, 15, 0.0);
    fill(&b, 15, 0.05);
    struct plot_run runs[2] = {run_of("orig & co", &a, 15), run_of("aug", &b, 15)};
    const char *table = "<table><tr><th>run</th><th>acc</th></tr>"
                        "<tr><td>orig</td><td>45.1%</td></tr></table>";
    struct rn_err err = {0};
    int rc;
    char *html = render(1, runs, 2, "Report <1> & \"2\"", table, &rc, &err);
    CHECK(rc == RN_OK);
    CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    CHECK_STR_CONTAINS(html, "<meta charset=\"utf-8\">");
    CHECK_STR_CONTAINS(html, "<title>Report &lt;1&gt; &amp; &quot;2&quot;</title>");
    CHECK_STR_CONTAINS(html, table);
    CHECK_STR_CONTAINS(html, "<svg xmlns=\"http://www.w3.org/2000/svg\"");
    CHECK_STR_CONTAINS(html, ">orig &amp; co</text>");
    CHECK_STR_CONTAINS(html, "</html>");
    CHECK(!strstr(html, "<?xml"));
    /* Self-contained: no scripts, no links, no URLs besides the SVG
     * namespace name (which is never fetched). */
    CHECK(!contains_ci(html, "<script"));
    CHECK(!contains_ci(html, "<link"));
    CHECK(!contains_ci(html, "src="));
    CHECK(!contains_ci(html, "url(http"));
    CHECK(count_of(html, "http") == 1);
    CHECK(!contains_ci(html, "nan"));
    CHECK(count_of(html, "<path class=") == 8);
    /* The SVG part is well-formed XML on its own. */
    const char *s0 = strstr(html, "<svg"), *s1 = strstr(html, "</svg>");
    CHECK(s0 && s1);
    if (s0 && s1) {
        size_t n = (size_t)(s1 + 6 - s0);
        char *svg = malloc(n + 1);
        memcpy(svg, s0, n);
        svg[n] = '\0';
        check_clean_svg(svg, "html svg");
        free(svg);
    }
    free(html);
    /* No table: still a page. */
    html = render(1, runs, 1, NULL, NULL, &rc, &err);
    CHECK(rc == RN_OK);
    CHECK_STR_CONTAINS(html, "<h1>runner report</h1>");
    CHECK_STR_CONTAINS(html, "from 1 run.");
    free(html);
}

/* The output must not depend on LC_NUMERIC: render under a locale with a
 * decimal comma (generated with localedef when none is installed). */
static void test_locale(void)
{
    static struct curves a;
    fill(&a, 12, 0.0);
    struct plot_run r = run_of("loc", &a, 12);
    struct rn_err err = {0};
    int rc;
    char *ref = render(0, &r, 1, "locale", NULL, &rc, &err);
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", NULL};
    const char *got = NULL;
    for (size_t i = 0; names[i] && !got; i++)
        if (setlocale(LC_NUMERIC, names[i]))
            got = names[i];
    char dir[] = "/tmp/test_plot_loc.XXXXXX";
    int made = 0;
    if (!got && access("/usr/bin/localedef", X_OK) == 0 &&
        access("/usr/share/i18n/locales/de_DE", R_OK) == 0 && mkdtemp(dir)) {
        made = 1;
        char cmd[256];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1", dir);
        if (system(cmd) != -1) {
            setenv("LOCPATH", dir, 1);
            if (setlocale(LC_NUMERIC, "de_DE.UTF-8"))
                got = "de_DE.UTF-8 (generated)";
        }
    }
    if (got) {
        char probe[32];
        snprintf(probe, sizeof probe, "%.1f", 1.5);
        CHECK_MSG(strcmp(probe, "1,5") == 0, "locale %s gives %s", got, probe);
        char *loc = render(0, &r, 1, "locale", NULL, &rc, &err);
        CHECK_MSG(strcmp(ref, loc) == 0, "output differs under %s", got);
        free(loc);
        setlocale(LC_NUMERIC, "C");
        printf("test_plot: locale check ran under %s\n", got);
    } else {
        printf("test_plot: no decimal-comma locale available; locale check skipped\n");
    }
    if (made) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) == -1)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    free(ref);
}

int main(void)
{
    test_ticks();
    test_basic_svg();
    test_hostile_labels();
    test_missing_values();
    test_single_epoch_and_flat();
    test_many_runs();
    test_errors();
    test_html();
    test_locale();
    return check_exit("test_plot");
}
