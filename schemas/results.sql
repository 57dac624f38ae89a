-- results.sql: the runner's SQLite results database, schema version 2.
--
-- The runner compiles this file in and applies it with sqlite3_exec inside one
-- transaction when it creates a new database. It is also usable directly:
--     sqlite3 -bail results.db < schemas/results.sql
-- A runner database is identified by PRAGMA application_id = 1381322322
-- (0x52554E52, "RUNR") and PRAGMA user_version = 2 (STORE_SCHEMA_VERSION in
-- include/runner/results.h; bump both together and add a migration to
-- src/results/store.c, which upgrades older runner databases in place).
--
-- History: version 1 had no sweeps table and no runs.sweep_id, overrides,
-- pid or checkpoint_path columns.
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
    PRIMARY KEY (run_id, epoch)
);

PRAGMA application_id = 1381322322;
PRAGMA user_version = 2;
