/* fuzz_config: libFuzzer target for the experiment-file parser.
 * bytes -> cfg_load_string -> a validated config (then exercised: resolved
 * JSON, hash, schema-independent accessors) or an error. Any crash, leak or
 * sanitizer report is a bug. Built by -DRUNNER_FUZZ=ON (scripts/fuzz.sh). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "runner/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct experiment cfg;
    struct rn_err err = {0};
    int rc = cfg_load_string((const char *)data, size, "fuzz.yaml", &cfg, &err);
    if (rc == RN_OK) {
        cJSON *j = cfg_to_json(&cfg);
        char *text = j ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_free(text);
        cJSON_Delete(j);
        char hash[65];
        cfg_hash(&cfg, hash);
        (void)cfg_lr_at(&cfg.training, cfg.training.epochs);
        (void)cfg_feature_dim(&cfg);
        cfg_free(&cfg);
    } else {
        /* The message is one line and NUL-terminated. */
        size_t n = strnlen(err.msg, sizeof err.msg);
        if (n == sizeof err.msg || n == 0 || memchr(err.msg, '\n', n))
            __builtin_trap();
    }
    return 0;
}
