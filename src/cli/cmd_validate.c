/* runner validate / runner schema. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "runner/config.h"

int cmd_validate(int argc, char **argv)
{
    int worst = 0;
    for (int i = 0; i < argc; i++) {
        struct experiment cfg;
        struct rn_err err = {0};
        int rc = cfg_load_file(argv[i], &cfg, &err);
        if (rc != RN_OK) {
            cli_error("%s", err.msg);
            if (rc > worst)
                worst = rc;
            continue;
        }
        printf("%s: ok: %s, layers", argv[i], cfg.name);
        for (size_t l = 0; l < cfg.model.n_layers; l++)
            printf("%s%zu", l ? "-" : " ", cfg.model.layers[l]);
        printf(", %zu epochs, augmentation %s\n", cfg.training.epochs,
               cfg.augment.enabled ? "on" : "off");
        cfg_free(&cfg);
    }
    if (fflush(stdout) != 0 && worst == 0)
        worst = RN_ERR_OUTPUT;
    return worst;
}

int cmd_schema(void)
{
    cJSON *schema = cfg_schema();
    char *text = schema ? cJSON_Print(schema) : NULL;
    cJSON_Delete(schema);
    if (!text) {
        cli_error("out of memory");
        return RN_ERR_NOMEM;
    }
    int ok = printf("%s\n", text) >= 0 && fflush(stdout) == 0;
    free(text);
    return ok ? 0 : RN_ERR_OUTPUT;
}
