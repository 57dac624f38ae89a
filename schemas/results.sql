-- results.sql: the runner's SQLite results database, schema version 3.
--
-- The runner compiles this file in and applies it with sqlite3_exec inside one
-- transaction when it creates a new database. It is also usable directly:
--     sqlite3 -bail results.db < schemas/results.sql
-- A runner database is identified by PRAGMA application_id = 1381322322
-- (0x52554E52, "RUNR") and PRAGMA user_version = 3 (STORE_SCHEMA_VERSION in
-- include/runner/results.h; bump both together and add a migration to
-- src/results/store.c, which upgrades older runner databases in place).
--
-- History: version 1 had no sweeps table and no runs.sweep_id, overrides,
-- pid or checkpoint_path columns; version 2 had no epochs.train_seconds.
--
-- Times are ISO 8601 UTC text ("2024-05-01T12:00:00Z"). Accuracies are
-- fractions in [0, 1]. Epochs are numbered from 1.

-- One row per sweep (runner -m): a set of runs launched together.
CREATE TABLE sweeps (
    id          TEXT PRIMARY KEY,               -- unique text id
    created_at  TEXT NOT NULL,
    config_path TEXT,                           -- experiment file as given
    spec        TEXT,                           -- JSON: the swept keys and values
    n_runs      INTEGER                         -- runs in the cartesian product
);

-- One row per run of an experiment file.
CREATE TABLE runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    uid              TEXT NOT NULL UNIQUE,      -- also in the JSON file name
    name             TEXT NOT NULL,             -- experiment name
    status           TEXT NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'completed', 'failed',
                                       'diverged', 'interrupted')),
    config_hash      TEXT,                      -- hex SHA-256 of the resolved config
    seed             INTEGER,                   -- seeds above 2^63-1 are stored as
                                                -- their two's complement (negative)
    config_path      TEXT,                      -- experiment file as given
    config_json      TEXT,                      -- resolved config (JSON object)
    data_files       TEXT,                      -- JSON array of {"path", "sha256"}
    host             TEXT,
    runner_version   TEXT,
    started_at       TEXT NOT NULL,
    finished_at      TEXT,                      -- NULL while running
    heartbeat_at     TEXT,                      -- updated at start and every epoch
    epochs_planned   INTEGER,
    epochs_done      INTEGER NOT NULL DEFAULT 0,
    diverged_epoch   INTEGER,                   -- NULL unless the loss went non-finite
    final_train_loss REAL,                      -- metrics of the last recorded epoch
    final_train_acc  REAL,
    final_test_loss  REAL,
    final_test_acc   REAL,
    final_val_loss   REAL,                      -- NULL without a hold-out set
    final_val_acc    REAL,
    best_test_acc    REAL,                      -- highest test accuracy so far
    best_epoch       INTEGER,                   -- first epoch that reached it
    wall_seconds     REAL,                      -- whole run, set at the end
    json_path        TEXT,                      -- the run's JSON file
    message          TEXT,                      -- why a run failed or diverged
    sweep_id         TEXT REFERENCES sweeps (id), -- NULL for a single run
    overrides        TEXT,                      -- JSON array of "key=value" from the
                                                -- command line, NULL if none
    pid              INTEGER,                   -- process that runs it (with host)
    checkpoint_path  TEXT                       -- latest checkpoint, if any
);
CREATE INDEX runs_name ON runs (name);
CREATE INDEX runs_config_hash ON runs (config_hash);
CREATE INDEX runs_sweep ON runs (sweep_id);

-- The resolved config flattened to dotted keys ("training.learning_rate").
-- `value` has no declared type on purpose, so every value keeps the type it
-- was stored with: integers INTEGER, other numbers REAL, booleans INTEGER 0/1,
-- strings TEXT, lists JSON text ("[3072,256,10]"). Hence
--     WHERE key = 'training.learning_rate' AND value < 0.05
-- compares numbers. (A real-valued key whose value is integral, such as
-- momentum 0, is stored as INTEGER; SQLite compares it numerically all the same.)
CREATE TABLE params (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX params_key_value ON params (key, value);

-- One row per finished epoch, written in the same transaction that updates
-- the run's epochs_done, final_* and best_* columns.
CREATE TABLE epochs (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch       INTEGER NOT NULL CHECK (epoch >= 1),
    train_loss  REAL,                           -- mean over the epoch's mini-batches
    train_acc   REAL,
    test_loss   REAL,                           -- full pass over the test set
    test_acc    REAL,
    val_loss    REAL,                           -- NULL without a hold-out set
    val_acc     REAL,
    lr          REAL,
    seconds     REAL,                           -- training + evaluation wall time
    recorded_at TEXT NOT NULL,
    train_seconds REAL,                         -- of `seconds`, the mini-batch loop alone
                                                -- (added in version 3, hence last)
    PRIMARY KEY (run_id, epoch)
);

PRAGMA application_id = 1381322322;
PRAGMA user_version = 3;

-- ---- Views ---------------------------------------------------------------
-- Convenience views over the three tables, for hand-written queries (the
-- runner's own commands query the tables). Every one is created with IF NOT
-- EXISTS: the runner creates them with the schema in a new database and adds
-- any that are missing when it opens an existing database of this version for
-- writing, without touching its rows. store.c runs the text from the marker
-- line below to the end of this file for that, so keep the views last.
--
-- "The same config" below means the same params rows (key and value, value
-- compared with IS, so types and NULLs count) apart from the keys that name or
-- place a run but do not change its result: name, output.*, features.cache and
-- features.cache_dir, threads (the keys the config hash leaves out too).
-- @views

-- One row per run: identity, the key params as columns, the final and best
-- metrics. Params a run lacks are NULL.
CREATE VIEW IF NOT EXISTS run_summary AS
SELECT r.id               AS run_id,
       r.name             AS name,
       r.status           AS status,
       lr.value           AS learning_rate,
       ep.value           AS epochs,
       bs.value           AS batch_size,
       ly.value           AS layers,
       au.value           AS augmented,     -- augmentation.enabled, 0 or 1
       sd.value           AS seed,
       fk.value           AS features,      -- features.kind
       r.epochs_done      AS epochs_done,
       r.final_train_loss AS final_train_loss,
       r.final_train_acc  AS final_train_acc,
       r.final_test_loss  AS final_test_loss,
       r.final_test_acc   AS final_test_acc,
       r.best_test_acc    AS best_test_acc,
       r.best_epoch       AS best_epoch,
       r.wall_seconds     AS wall_seconds,
       r.started_at       AS started_at
FROM runs r
LEFT JOIN params lr ON lr.run_id = r.id AND lr.key = 'training.learning_rate'
LEFT JOIN params ep ON ep.run_id = r.id AND ep.key = 'training.epochs'
LEFT JOIN params bs ON bs.run_id = r.id AND bs.key = 'training.batch_size'
LEFT JOIN params ly ON ly.run_id = r.id AND ly.key = 'model.layers'
LEFT JOIN params au ON au.run_id = r.id AND au.key = 'augmentation.enabled'
LEFT JOIN params sd ON sd.run_id = r.id AND sd.key = 'seed'
LEFT JOIN params fk ON fk.run_id = r.id AND fk.key = 'features.kind';

-- One row per recorded epoch of every run, with the run's name.
CREATE VIEW IF NOT EXISTS learning_curves AS
SELECT e.run_id, r.name, e.epoch, e.train_loss, e.train_acc, e.test_loss,
       e.test_acc, e.val_loss, e.val_acc, e.lr
FROM epochs e
JOIN runs r ON r.id = e.run_id;

-- Original/augmented pairs: one row for every original run
-- (augmentation.enabled = 0) and augmented run (= 1) whose configs are the
-- same apart from augmentation.* (and name, output.*, features.cache*), with
-- both runs' final test accuracy and loss and the differences augmented -
-- original. Runs of any status; a run without epochs has NULL metrics.
--
-- "The same config" is decided on a signature per run: its params (minus the
-- keys left out) as SQL literals, 'key'=value, in key order, joined by a
-- window group_concat (a window aggregates its frame in ORDER BY order, so
-- the text does not depend on the order rows are stored in). quote() writes
-- text quoted and reals so that they read back exactly, which makes equal
-- signatures mean equal params; an integral real is written as the integer,
-- as IS compares them.
CREATE VIEW IF NOT EXISTS augmentation_pairs AS
WITH cmp AS (             -- the params that must agree
    SELECT run_id, key, value FROM params
    WHERE key <> 'name' AND key NOT GLOB 'output.*'
      AND key NOT IN ('features.cache', 'features.cache_dir', 'threads')
      AND key NOT GLOB 'augmentation.*'
),
sig AS MATERIALIZED (
    SELECT DISTINCT run_id,
           group_concat(quote(key) || '=' ||
                        CASE WHEN typeof(value) = 'real' AND value = CAST(value AS INTEGER)
                             THEN quote(CAST(value AS INTEGER)) ELSE quote(value) END, ',')
               OVER (PARTITION BY run_id ORDER BY key
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS sig
    FROM cmp
),
side AS MATERIALIZED (    -- signature and augmentation.enabled of every run
    SELECT s.run_id, s.sig, f.value AS on_
    FROM sig s
    JOIN params f ON f.run_id = s.run_id AND f.key = 'augmentation.enabled'
)
SELECT o.id                                AS orig_run_id,
       o.name                              AS orig_name,
       o.status                            AS orig_status,
       a.id                                AS aug_run_id,
       a.name                              AS aug_name,
       a.status                            AS aug_status,
       o.final_test_acc                    AS orig_test_acc,
       a.final_test_acc                    AS aug_test_acc,
       a.final_test_acc - o.final_test_acc AS test_acc_diff,
       o.final_test_loss                   AS orig_test_loss,
       a.final_test_loss                   AS aug_test_loss,
       a.final_test_loss - o.final_test_loss AS test_loss_diff
FROM side so
JOIN side sa ON sa.sig = so.sig AND so.on_ = 0 AND sa.on_ = 1
JOIN runs o ON o.id = so.run_id
JOIN runs a ON a.id = sa.run_id;

-- Seed aggregates: completed runs grouped by config apart from the seed (and
-- name, output.*, features.cache*; the same signature as above). One row per
-- group, including groups of one run: group_id is the group's lowest run id,
-- name the name of its newest run, augmented its augmentation.enabled; the
-- mean, sample standard deviation (n - 1; NULL for one run), minimum and
-- maximum of the final test accuracy, and the mean best test accuracy. Needs
-- SQLite's math functions (sqrt), which Debian's SQLite has.
CREATE VIEW IF NOT EXISTS seed_summary AS
WITH cmp AS (
    SELECT p.run_id, p.key, p.value FROM params p
    JOIN runs r ON r.id = p.run_id AND r.status = 'completed'
    WHERE p.key <> 'name' AND p.key NOT GLOB 'output.*'
      AND p.key NOT IN ('features.cache', 'features.cache_dir', 'threads', 'seed')
),
sig AS MATERIALIZED (
    SELECT DISTINCT run_id,
           group_concat(quote(key) || '=' ||
                        CASE WHEN typeof(value) = 'real' AND value = CAST(value AS INTEGER)
                             THEN quote(CAST(value AS INTEGER)) ELSE quote(value) END, ',')
               OVER (PARTITION BY run_id ORDER BY key
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS sig
    FROM cmp
),
grp AS (SELECT run_id, min(run_id) OVER (PARTITION BY sig) AS group_id FROM sig),
agg AS (
    SELECT g.group_id, count(*) AS runs, count(DISTINCT r.seed) AS seeds,
           max(g.run_id) AS newest, avg(r.final_test_acc) AS mean_test_acc,
           min(r.final_test_acc) AS min_test_acc, max(r.final_test_acc) AS max_test_acc,
           avg(r.best_test_acc) AS mean_best_test_acc
    FROM grp g
    JOIN runs r ON r.id = g.run_id
    GROUP BY g.group_id
),
dev AS (
    SELECT g.group_id,
           sum((r.final_test_acc - a.mean_test_acc) * (r.final_test_acc - a.mean_test_acc))
               AS ss
    FROM grp g
    JOIN runs r ON r.id = g.run_id
    JOIN agg a ON a.group_id = g.group_id
    GROUP BY g.group_id
)
SELECT a.group_id,
       (SELECT name FROM runs WHERE id = a.newest)                AS name,
       (SELECT value FROM params
        WHERE run_id = a.group_id AND key = 'augmentation.enabled') AS augmented,
       a.runs,
       a.seeds,
       a.mean_test_acc,
       CASE WHEN a.runs > 1 THEN sqrt(d.ss / (a.runs - 1)) END     AS std_test_acc,
       a.min_test_acc,
       a.max_test_acc,
       a.mean_best_test_acc
FROM agg a
JOIN dev d ON d.group_id = a.group_id;
