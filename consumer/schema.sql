-- The app's copy of the rosters rosterd keeps, one PostgreSQL schema.
--
-- Every row is keyed by its roster's OWNER (the Clever id of the teacher
-- whose roster it is) and then its Clever id: a co-taught section or a
-- student shared by two teachers is in both teachers' rosters, so it is
-- two rows here, each changed only by its own teacher's diffs.
-- rosterd_consumer.py creates these tables when they are missing.

-- One row per teacher whose roster the app holds: what the rows below
-- are (hash = "mine" in the contract's rule; "" or no row = the empty
-- roster), how far the app got, and the roster's own fields.
CREATE TABLE IF NOT EXISTS rosters (
	owner		text PRIMARY KEY,
	hash		text NOT NULL DEFAULT '',	-- content hash of the rows
	version		bigint NOT NULL DEFAULT 0,	-- informative
	diff_id		text NOT NULL DEFAULT '',	-- last diff entry applied
	fields		text NOT NULL DEFAULT 'library',
	authorized_by	text,				-- teacher, district, NULL
	district	text,
	updated_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS teachers (
	owner		text NOT NULL,
	id		text NOT NULL,
	first		text NOT NULL,
	middle		text,
	last		text NOT NULL,
	email		text,
	grade		text NOT NULL,
	extra		jsonb,				-- district extras
	PRIMARY KEY (owner, id)
);

CREATE TABLE IF NOT EXISTS sections (
	owner		text NOT NULL,
	id		text NOT NULL,
	name		text NOT NULL,
	section_number	text NOT NULL,
	subject		text NOT NULL,
	grade		text NOT NULL,
	teachers	jsonb NOT NULL,			-- Clever ids, co-teachers too
	extra		jsonb,
	PRIMARY KEY (owner, id)
);

CREATE TABLE IF NOT EXISTS students (
	owner		text NOT NULL,
	id		text NOT NULL,
	first		text NOT NULL,
	last		text NOT NULL,			-- Library: the initial only
	grade		text NOT NULL,
	extra		jsonb,
	PRIMARY KEY (owner, id)
);

CREATE TABLE IF NOT EXISTS enrollments (
	owner		text NOT NULL,
	section		text NOT NULL,
	student		text NOT NULL,
	PRIMARY KEY (owner, section, student)
);
