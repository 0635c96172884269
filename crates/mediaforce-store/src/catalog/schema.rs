//! The catalog's tables on both backends, versioned migrations brought up to date on open.

use crate::sql::Schema;

/// Schema migrations, in order. Never edit one that has shipped; append a new one.
pub const MIGRATIONS: &[&str] = &["
CREATE TABLE setting (
    key TEXT NOT NULL CHECK (key IN ('root', 'ignore', 'transcode_root')),
    value TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (key, value)
) STRICT;

CREATE TABLE file (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    dev INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'gone')),
    error TEXT,
    probe TEXT,
    ours INTEGER NOT NULL DEFAULT 0,
    first_seen INTEGER NOT NULL,
    scanned_at INTEGER NOT NULL,
    probed_at INTEGER
) STRICT;
CREATE INDEX file_fingerprint ON file (fingerprint);

CREATE TABLE file_event (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES file (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
) STRICT;

CREATE TABLE item (
    id INTEGER PRIMARY KEY,
    manifest TEXT NOT NULL,
    idx INTEGER NOT NULL,
    file_id INTEGER REFERENCES file (id),
    source TEXT NOT NULL,
    staging TEXT NOT NULL,
    state TEXT NOT NULL,
    decision TEXT,
    updated_at INTEGER NOT NULL,
    UNIQUE (manifest, idx)
) STRICT;

CREATE TABLE item_event (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
) STRICT;

CREATE TABLE encode (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    host TEXT NOT NULL,
    source TEXT NOT NULL,
    source_bytes INTEGER NOT NULL,
    source_codec TEXT NOT NULL,
    encoder TEXT NOT NULL,
    encoder_fingerprint TEXT NOT NULL,
    knob REAL NOT NULL,
    predicted_vmaf REAL,
    measured_vmaf REAL,
    output_bytes INTEGER NOT NULL,
    wall_seconds REAL NOT NULL,
    fps REAL NOT NULL
) STRICT;

CREATE TABLE validation (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    passed INTEGER NOT NULL,
    report TEXT NOT NULL
) STRICT;

CREATE TABLE journal (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('promote', 'rollback')),
    step TEXT NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('begin', 'done')),
    detail TEXT
) STRICT;
", "
ALTER TABLE item ADD COLUMN source_damage INTEGER NOT NULL DEFAULT 0 CHECK (source_damage >= 0);
ALTER TABLE item ADD COLUMN damage_accepted INTEGER NOT NULL DEFAULT 0 CHECK (damage_accepted IN (0, 1));
", "
CREATE TRIGGER item_state_insert BEFORE INSERT ON item
WHEN NEW.state NOT IN ('planned', 'encoding', 'interrupted', 'failed', 'no_result', 'staged',
                       'validated', 'invalid', 'promoting', 'promoted', 'rolling_back', 'rolled_back')
  OR NEW.decision IS NOT NULL AND NEW.decision NOT IN ('approved', 'rejected')
BEGIN SELECT RAISE(ABORT, 'item: unknown state or decision'); END;
CREATE TRIGGER item_state_update BEFORE UPDATE OF state, decision ON item
WHEN NEW.state NOT IN ('planned', 'encoding', 'interrupted', 'failed', 'no_result', 'staged',
                       'validated', 'invalid', 'promoting', 'promoted', 'rolling_back', 'rolled_back')
  OR NEW.decision IS NOT NULL AND NEW.decision NOT IN ('approved', 'rejected')
BEGIN SELECT RAISE(ABORT, 'item: unknown state or decision'); END;
", "
CREATE TABLE plan (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL
) STRICT;

CREATE TABLE artifact (
    -- AUTOINCREMENT: an id is never reused, so a link to a replaced artifact cannot serve
    -- another file.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('clip', 'still', 'plot', 'frame_scores', 'report')),
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL CHECK (bytes >= 0),
    created_at INTEGER NOT NULL,
    detail TEXT
) STRICT;
CREATE INDEX artifact_item ON artifact (item_id, id);
", "
-- What the library page filters and sorts on, taken out of the probe record when it is
-- written (and once, for files probed before).
ALTER TABLE file ADD COLUMN video_codec TEXT;
ALTER TABLE file ADD COLUMN width INTEGER;
ALTER TABLE file ADD COLUMN height INTEGER;
ALTER TABLE file ADD COLUMN hdr TEXT;
ALTER TABLE file ADD COLUMN bit_rate INTEGER;
ALTER TABLE file ADD COLUMN audio TEXT;
CREATE INDEX file_codec ON file (video_codec);
CREATE INDEX file_height ON file (height);
CREATE INDEX file_size ON file (size);
", "
-- The library page at 100,000 files: every column it filters and sorts on in one narrow
-- index, so counts and a page's ids are read from it alone (the rows, with their probe
-- records, are kilobytes each); items by file for their state.
DROP INDEX file_codec;
DROP INDEX file_height;
DROP INDEX file_size;
CREATE INDEX file_live ON file (status);
CREATE INDEX file_page ON file (path, status, size, video_codec, height, hdr, bit_rate);
CREATE INDEX item_file ON item (file_id, id);
", "
-- Measured (source, encoder, knob, VMAF) points: every probe of every search, and the rows of
-- `mediaforce grid`; what a knob model is fitted on.
CREATE TABLE tuning_point (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    origin TEXT NOT NULL,
    source_fingerprint TEXT NOT NULL,
    encoder TEXT NOT NULL,
    preset TEXT NOT NULL,
    knob REAL NOT NULL,
    vmaf_mean REAL NOT NULL,
    row TEXT NOT NULL
) STRICT;
CREATE INDEX tuning_point_source ON tuning_point (source_fingerprint, encoder, preset, knob);
", "
-- The service's automation looks for items by state every few seconds.
CREATE INDEX item_state ON item (state, updated_at);
", "
-- Analytics: each encode's target and how many times the closed loop corrected it; savings
-- over time read promotions and rollbacks by kind and time, each with its newest encode.
ALTER TABLE encode ADD COLUMN target REAL;
ALTER TABLE encode ADD COLUMN corrections INTEGER NOT NULL DEFAULT 0;
CREATE INDEX encode_item ON encode (item_id, at, id);
CREATE INDEX encode_at ON encode (at);
CREATE INDEX item_event_kind ON item_event (kind, at);
", "
-- Each plan's items in brief, written with the plan: what is still expected is summed from
-- them without parsing the plans' bodies (hundreds of megabytes at 100,000 items).
CREATE TABLE plan_item (
    plan_id INTEGER NOT NULL REFERENCES plan (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    source TEXT NOT NULL,
    source_bytes INTEGER NOT NULL,
    expected_bytes INTEGER NOT NULL,
    saving_percent REAL NOT NULL,
    confidence TEXT NOT NULL,
    bucket TEXT NOT NULL,
    PRIMARY KEY (plan_id, idx)
) STRICT;
CREATE INDEX plan_item_source ON plan_item (source, plan_id);
CREATE INDEX item_source ON item (source, state);
-- A file's folder (its path up to the last `/`), kept by the statements that write a path:
-- analytics group by it; with the columns they read, one narrow index serves their scans
-- (the rows carry kilobytes of probe record each).
ALTER TABLE file ADD COLUMN folder TEXT;
UPDATE file SET folder = rtrim(path, replace(path, '/', ''));
CREATE INDEX file_stats ON file (status, root, folder, size, video_codec, height, hdr, bit_rate,
    audio, path);
"];

/// The same schema for PostgreSQL (one migration: it had no earlier versions to carry).
pub const PG_MIGRATIONS: &[&str] = &["
CREATE TABLE setting (
    seq BIGSERIAL,
    key TEXT NOT NULL CHECK (key IN ('root', 'ignore', 'transcode_root')),
    value TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (key, value)
);

CREATE TABLE file (
    id BIGSERIAL PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL,
    size BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    dev BIGINT NOT NULL,
    inode BIGINT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'gone')),
    error TEXT,
    probe TEXT,
    ours BIGINT NOT NULL DEFAULT 0,
    first_seen BIGINT NOT NULL,
    scanned_at BIGINT NOT NULL,
    probed_at BIGINT
);
CREATE INDEX file_fingerprint ON file (fingerprint);

CREATE TABLE file_event (
    id BIGSERIAL PRIMARY KEY,
    file_id BIGINT NOT NULL REFERENCES file (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX file_event_file ON file_event (file_id, id);

CREATE TABLE item (
    id BIGSERIAL PRIMARY KEY,
    manifest TEXT NOT NULL,
    idx BIGINT NOT NULL,
    file_id BIGINT REFERENCES file (id),
    source TEXT NOT NULL,
    staging TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('planned', 'encoding', 'interrupted', 'failed', 'no_result',
        'staged', 'validated', 'invalid', 'promoting', 'promoted', 'rolling_back', 'rolled_back')),
    decision TEXT CHECK (decision IN ('approved', 'rejected')),
    updated_at BIGINT NOT NULL,
    source_damage BIGINT NOT NULL DEFAULT 0 CHECK (source_damage >= 0),
    damage_accepted BIGINT NOT NULL DEFAULT 0 CHECK (damage_accepted IN (0, 1)),
    UNIQUE (manifest, idx)
);

CREATE TABLE item_event (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX item_event_item ON item_event (item_id, id);

CREATE TABLE encode (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    host TEXT NOT NULL,
    source TEXT NOT NULL,
    source_bytes BIGINT NOT NULL,
    source_codec TEXT NOT NULL,
    encoder TEXT NOT NULL,
    encoder_fingerprint TEXT NOT NULL,
    knob DOUBLE PRECISION NOT NULL,
    predicted_vmaf DOUBLE PRECISION,
    measured_vmaf DOUBLE PRECISION,
    output_bytes BIGINT NOT NULL,
    wall_seconds DOUBLE PRECISION NOT NULL,
    fps DOUBLE PRECISION NOT NULL
);

CREATE TABLE validation (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    passed BIGINT NOT NULL CHECK (passed IN (0, 1)),
    report TEXT NOT NULL
);

CREATE TABLE journal (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('promote', 'rollback')),
    step TEXT NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('begin', 'done')),
    detail TEXT
);

CREATE TABLE plan (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE artifact (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('clip', 'still', 'plot', 'frame_scores', 'report')),
    path TEXT NOT NULL,
    bytes BIGINT NOT NULL CHECK (bytes >= 0),
    created_at BIGINT NOT NULL,
    detail TEXT
);
CREATE INDEX artifact_item ON artifact (item_id, id);
", "
ALTER TABLE file ADD COLUMN video_codec TEXT;
ALTER TABLE file ADD COLUMN width BIGINT;
ALTER TABLE file ADD COLUMN height BIGINT;
ALTER TABLE file ADD COLUMN hdr TEXT;
ALTER TABLE file ADD COLUMN bit_rate BIGINT;
ALTER TABLE file ADD COLUMN audio TEXT;
CREATE INDEX file_codec ON file (video_codec);
CREATE INDEX file_height ON file (height);
CREATE INDEX file_size ON file (size);
", "
DROP INDEX file_codec;
DROP INDEX file_height;
DROP INDEX file_size;
CREATE INDEX file_live ON file (status);
CREATE INDEX file_page ON file (path, status, size, video_codec, height, hdr, bit_rate);
CREATE INDEX item_file ON item (file_id, id);
", "
CREATE TABLE tuning_point (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    origin TEXT NOT NULL,
    source_fingerprint TEXT NOT NULL,
    encoder TEXT NOT NULL,
    preset TEXT NOT NULL,
    knob DOUBLE PRECISION NOT NULL,
    vmaf_mean DOUBLE PRECISION NOT NULL,
    row TEXT NOT NULL
);
CREATE INDEX tuning_point_source ON tuning_point (source_fingerprint, encoder, preset, knob);
", "
-- The service's automation looks for items by state every few seconds.
CREATE INDEX item_state ON item (state, updated_at);
", "
-- Analytics: each encode's target and how many times the closed loop corrected it; savings
-- over time read promotions and rollbacks by kind and time, each with its newest encode.
ALTER TABLE encode ADD COLUMN target DOUBLE PRECISION;
ALTER TABLE encode ADD COLUMN corrections BIGINT NOT NULL DEFAULT 0;
CREATE INDEX encode_item ON encode (item_id, at, id);
CREATE INDEX encode_at ON encode (at);
CREATE INDEX item_event_kind ON item_event (kind, at);
", "
-- Each plan's items in brief, written with the plan: what is still expected is summed from
-- them without parsing the plans' bodies (hundreds of megabytes at 100,000 items).
CREATE TABLE plan_item (
    plan_id BIGINT NOT NULL REFERENCES plan (id) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    source TEXT NOT NULL,
    source_bytes BIGINT NOT NULL,
    expected_bytes BIGINT NOT NULL,
    saving_percent DOUBLE PRECISION NOT NULL,
    confidence TEXT NOT NULL,
    bucket TEXT NOT NULL,
    PRIMARY KEY (plan_id, idx)
);
CREATE INDEX plan_item_source ON plan_item (source, plan_id);
CREATE INDEX item_source ON item (source, state);
-- A file's folder (its path up to the last `/`), kept by the statements that write a path:
-- analytics group by it; with the columns they read, one narrow index serves their scans
-- (the rows carry kilobytes of probe record each).
ALTER TABLE file ADD COLUMN folder TEXT;
UPDATE file SET folder = rtrim(path, replace(path, '/', ''));
CREATE INDEX file_stats ON file (status, root, folder, size, video_codec, height, hdr, bit_rate,
    audio, path);
"];

/// The catalog's schema on both backends.
pub const SCHEMA: Schema<'static> = Schema {
    name: "catalog",
    sqlite: MIGRATIONS,
    postgres: PG_MIGRATIONS,
    legacy: crate::sql::Legacy::UserVersion,
};
