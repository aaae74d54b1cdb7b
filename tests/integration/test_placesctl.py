#!/usr/bin/python3
"""placesctl against a real PostgreSQL: migrate (in order, each file in a
transaction with its schema_migrations row, twice, concurrently, a failing
file), check (unmigrated, pending, ok), seed (deterministic for a seed,
different for another, realistic contents, --if-empty, --replace), and the
exit codes and messages for bad conninfo, bad usage and bad config."""

import atexit
import os
import shutil
import subprocess
import tempfile
import time

import placesd_test as T

PLACES = 1000
PG = None
CTL = None
SQL_DIR = None
TMP = None


def setup():
    global PG, CTL, SQL_DIR, TMP
    CTL = T.placesctl_path()
    SQL_DIR = os.environ.get("SQL_DIR") or os.path.join(
        os.environ.get("top_srcdir", "."), "src", "sql")
    if not os.path.exists(os.path.join(SQL_DIR, "001_schema.sql")):
        T.fail("no migrations in SQL_DIR=%s" % SQL_DIR)
    TMP = tempfile.mkdtemp(prefix="placesctl-it-")
    atexit.register(shutil.rmtree, TMP, True)
    PG = T.Postgres()
    PG.start()


def conf_for(db, conninfo=None):
    """A placesd.conf whose [database] conninfo points at database db."""
    path = os.path.join(TMP, "%s.conf" % db)
    with open(path, "w") as f:
        f.write("[database]\nconninfo = %s\n" % (
            conninfo or "host=%s user=%s dbname=%s" % (PG.dir, PG.USER, db)))
    return path


def new_db(db):
    PG.psql("CREATE DATABASE %s" % db)
    return conf_for(db)


def ctl(conf, *args, timeout=120):
    return T.run([CTL, "-c", conf] + list(args), timeout=timeout)


def ok(r, what):
    T.check(r.returncode == 0, "%s: exit %d\nstdout: %s\nstderr: %s"
            % (what, r.returncode, r.stdout, r.stderr))
    return r


def sql(db, q):
    """Rows of q in database db."""
    r = T.run([PG.psql_bin(), "-X", "-q", "-A", "-t", "-v",
               "ON_ERROR_STOP=1", "-F", "\x1f", "-d",
               "host=%s user=%s dbname=%s" % (PG.dir, PG.USER, db),
               "-c", q])
    if r.returncode != 0:
        T.fail("psql %s: %s: %s" % (db, q[:120], r.stderr.strip()))
    return [ln.split("\x1f") for ln in r.stdout.splitlines() if ln]


def one(db, q):
    return sql(db, q)[0][0]


def shipped():
    """The migrations of src/sql, in order, without .sql."""
    return sorted(f[:-4] for f in os.listdir(SQL_DIR) if f.endswith(".sql"))


def migrate(conf, *extra):
    return ok(ctl(conf, "migrate", "--dir", SQL_DIR, *extra), "migrate")


# --------------------------------------------------------------------------
# migrate and check

def test_migrate_applies_in_order_then_nothing():
    conf = new_db("m1")
    files = shipped()
    r = migrate(conf)
    pos = [r.stdout.find("applied %s.sql" % f) for f in files]
    T.check(all(p >= 0 for p in pos) and pos == sorted(pos),
            "first migrate output: %r" % r.stdout)
    T.check("%d applied" % len(files) in r.stdout, "summary: %r" % r.stdout)
    T.check_eq(sql("m1", "SELECT version FROM schema_migrations "
                         "ORDER BY version"),
               [[f] for f in files], "schema_migrations rows")
    T.check_eq(one("m1", "SELECT count(*) FROM schema_migrations "
                         "WHERE applied_at IS NULL"), "0", "applied_at set")
    r = migrate(conf)
    T.check("applied 0" not in r.stdout and "nothing to apply" in r.stdout
            and "applied 00" not in r.stdout,
            "second migrate applied something: %r" % r.stdout)
    T.check_eq(one("m1", "SELECT count(*) FROM schema_migrations"),
               str(len(files)), "rows after a second migrate")


def test_concurrent_migrates():
    conf = new_db("m2")
    procs = [subprocess.Popen([CTL, "-c", conf, "migrate", "--dir", SQL_DIR],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        T.check(p.returncode == 0, "concurrent migrate exit %d: %s"
                % (p.returncode, err))
        outs.append(out)
    for f in shipped():
        n = sum(o.count("applied %s.sql" % f) for o in outs)
        T.check_eq(n, 1, "runs that applied %s" % f)
    T.check_eq(one("m2", "SELECT count(*) FROM schema_migrations"),
               str(len(shipped())), "schema_migrations rows")


def test_failing_migration_is_rolled_back_and_named():
    conf = new_db("m3")
    d = os.path.join(TMP, "sql-m3")
    shutil.copytree(SQL_DIR, d)
    with open(os.path.join(d, "900_extra.sql"), "w") as f:
        f.write("-- an extra migration\nCREATE TABLE extra (id int);\n")
    with open(os.path.join(d, "901_bad.sql"), "w") as f:
        f.write("CREATE TABLE half (id int);\n\n"
                "CREATE TABEL oops (id int);\n")
    r = ctl(conf, "migrate", "--dir", d)
    T.check_eq(r.returncode, 1, "exit code of a failing migration")
    T.check("placesctl: migrate 901_bad.sql: ERROR: " in r.stderr and
            "(line 3)" in r.stderr, "error message: %r" % r.stderr)
    T.check("applied 900_extra.sql" in r.stdout, "900 applied before 901")
    T.check_eq(sql("m3", "SELECT version FROM schema_migrations "
                         "ORDER BY 1"),
               [[f] for f in shipped()] + [["900_extra"]],
               "recorded versions")
    T.check_eq(one("m3", "SELECT to_regclass('half') IS NULL"), "t",
               "the failing file's first statement was rolled back")
    r = ctl(conf, "check", "--dir", d)
    T.check_eq(r.returncode, 1, "check with a pending migration")
    T.check("901_bad.sql" in r.stderr, "check names it: %r" % r.stderr)


def test_check():
    conf = new_db("c1")
    r = ctl(conf, "check", "--dir", SQL_DIR)
    T.check_eq(r.returncode, 1, "check on an unmigrated database")
    T.check("not migrated" in r.stderr and "placesctl migrate" in r.stderr,
            "check message: %r" % r.stderr)
    migrate(conf)
    r = ok(ctl(conf, "check", "--dir", SQL_DIR), "check")
    T.check("server: PostgreSQL " in r.stdout, "server version: %r"
            % r.stdout)
    for t in ("cities: 0", "places: 0", "menu_items: 0", "offers: 0",
              "migrations: %d of %d applied" % (len(shipped()),
                                                len(shipped()))):
        T.check(t in r.stdout, "check prints %r: %r" % (t, r.stdout))


# --------------------------------------------------------------------------
# seed

DUMPS = {
    "cities": "SELECT md5(string_agg(c::text, E'\\n' ORDER BY id)) "
              "FROM cities c",
    "places": "SELECT md5(string_agg(row(id, city_id, name, categories, "
              "cuisines, lat, lon, rating, price_level, address, "
              "description, hours)::text, E'\\n' ORDER BY id)) FROM places",
    "menu_items": "SELECT md5(string_agg(m::text, E'\\n' ORDER BY id)) "
                  "FROM menu_items m",
    # offer times follow the clock: compare them relative to created_at
    "offers": "SELECT md5(string_agg(row(id, place_id, title, description, "
              "discount_pct, starts_at - created_at, ends_at - created_at"
              ")::text, E'\\n' ORDER BY id)) FROM offers",
}


def dumps(db):
    return {t: one(db, q) for t, q in DUMPS.items()}


def seeded(db, seed, places=PLACES, *extra):
    conf = new_db(db)
    migrate(conf)
    t0 = time.monotonic()
    r = ok(ctl(conf, "seed", "--places", str(places), "--seed", str(seed),
               *extra), "seed")
    T.log("seed of %d places (seed %d) took %.2f s; placesctl says: %s"
          % (places, seed, time.monotonic() - t0,
             r.stdout.strip().splitlines()[-1]))
    return conf, r


def test_seed_is_deterministic():
    conf, r = seeded("s1", 7)
    for t in ("cities: ", "places: %d" % PLACES, "menu_items: ", "offers: "):
        T.check(t in r.stdout, "summary has %r: %r" % (t, r.stdout))
    seeded("s2", 7)
    seeded("s3", 8)
    a, b, c = dumps("s1"), dumps("s2"), dumps("s3")
    T.check_eq(b, a, "dumps of two databases seeded with 7")
    T.check(a["places"] != c["places"] and
            a["menu_items"] != c["menu_items"],
            "seed 8 gives the same places or menus as seed 7")
    # --replace reloads the same rows with the same ids
    ok(ctl(conf, "seed", "--places", str(PLACES), "--seed", "7",
           "--replace"), "seed --replace")
    T.check_eq(dumps("s1"), a, "dumps after seed --replace")


def test_seed_contents():
    db = "s1"
    T.check(int(one(db, "SELECT count(*) FROM cities")) >= 20,
            "at least 20 cities")
    T.check_eq(one(db, "SELECT count(*) FROM places"), str(PLACES),
               "places")
    for c in ("moscow", "saint-petersburg", "tbilisi", "berlin", "paris",
              "london", "new-york", "tokyo", "istanbul"):
        T.check_eq(one(db, "SELECT count(*) FROM cities WHERE id = '%s'"
                           % c), "1", "city %s" % c)
    T.check_eq(sql(db, "SELECT name, country, timezone, round(lat::numeric"
                       ", 2), round(lon::numeric, 2) FROM cities "
                       "WHERE id = 'saint-petersburg'"),
               [["Saint Petersburg", "RU", "Europe/Moscow", "59.93",
                 "30.34"]], "Saint Petersburg")
    T.check_eq(one(db, "SELECT count(*) FROM cities WHERE timezone NOT IN "
                       "(SELECT name FROM pg_timezone_names)"), "0",
               "cities with a time zone PostgreSQL does not know")
    # every city centre within 20 km of all of its places
    far = one(db, """
        SELECT count(*) FROM places p JOIN cities c ON c.id = p.city_id
        WHERE 2 * 6371 * asin(sqrt(
            sin(radians(p.lat - c.lat) / 2) ^ 2 +
            cos(radians(c.lat)) * cos(radians(p.lat)) *
            sin(radians(p.lon - c.lon) / 2) ^ 2)) > 20""")
    T.check_eq(far, "0", "places more than 20 km from their city centre")
    T.check(int(one(db, "SELECT count(DISTINCT city_id) FROM places")) >= 15,
            "places spread over the cities")
    T.check(int(one(db, "SELECT count(*) FROM places WHERE city_id = "
                        "'moscow'")) >
            int(one(db, "SELECT count(*) FROM places WHERE city_id = "
                        "'batumi'")), "Moscow has more places than Batumi")
    # menus: 5..30 items per place, one currency per place
    mn, mx, cur = sql(db, """
        SELECT min(n), max(n), max(ncur) FROM (
            SELECT p.id, count(m.id) n, count(DISTINCT m.currency) ncur
            FROM places p LEFT JOIN menu_items m ON m.place_id = p.id
            GROUP BY p.id) s""")[0]
    T.check(int(mn) >= 5 and int(mx) <= 30, "menu sizes %s..%s" % (mn, mx))
    T.check_eq(cur, "1", "currencies per place")
    T.check_eq(one(db, "SELECT count(*) FROM menu_items WHERE price_cents "
                       "<= 0"), "0", "free dishes")
    T.check(int(one(db, "SELECT count(*) FROM menu_items m JOIN places p ON "
                        "p.id = m.place_id WHERE p.city_id = 'tokyo' AND "
                        "m.currency <> 'JPY'")) == 0, "Tokyo prices in JPY")
    # NULL shares around 10%
    for col in ("rating", "price_level", "hours"):
        n = int(one(db, "SELECT count(*) FROM places WHERE %s IS NULL"
                        % col))
        T.check(PLACES * 0.04 <= n <= PLACES * 0.18,
                "%s NULL in %d of %d places" % (col, n, PLACES))
    T.check_eq(one(db, "SELECT count(*) FROM places WHERE rating * 10 <> "
                       "trunc(rating * 10)"), "0", "one decimal ratings")
    T.check_eq(one(db, "SELECT count(*) FROM places WHERE categories = "
                       "'{}' OR cuisines = '{}'"), "0",
               "places without a category or cuisine")
    # opening hours: round the clock, closed days, past midnight
    for what, cond in (
            ("round the clock", "hours->'mon' = '[[\"00:00\",\"24:00\"]]'"),
            ("a closed day as []", "EXISTS (SELECT 1 FROM jsonb_each(hours) "
                                   "e WHERE e.value = '[]')"),
            ("a missing day", "(SELECT count(*) FROM jsonb_object_keys("
                              "hours)) < 7"),
            ("open past midnight", "EXISTS (SELECT 1 FROM jsonb_each(hours) "
                                   "e, jsonb_array_elements(e.value) r "
                                   "WHERE r->>1 < r->>0)")):
        n = int(one(db, "SELECT count(*) FROM places WHERE hours IS NOT NULL "
                        "AND %s" % cond))
        T.check(n > 0, "no place with %s" % what)
    # offers: ~5% of places, active and expired ones
    n_off = int(one(db, "SELECT count(DISTINCT place_id) FROM offers"))
    T.check(PLACES * 0.02 <= n_off <= PLACES * 0.10,
            "%d places with offers" % n_off)
    for what, cond in (("active", "starts_at <= now() AND now() < ends_at"),
                       ("expired", "ends_at <= now()"),
                       ("future", "starts_at > now()")):
        T.check(int(one(db, "SELECT count(*) FROM offers WHERE %s" % cond))
                > 0, "no %s offers" % what)
    # UTF-8: Cyrillic names come back as they went in
    name = one(db, "SELECT name FROM places WHERE name ~ '[А-Яа-яЁё]' "
                   "ORDER BY id LIMIT 1")
    T.check(any("\u0400" <= ch <= "\u04ff" for ch in name),
            "a Cyrillic place name: %r" % name)
    T.check(int(one(db, "SELECT count(*) FROM places WHERE name = '%s'"
                        % name.replace("'", "''"))) >= 1,
            "Cyrillic name %r does not round-trip" % name)
    T.check(int(one(db, "SELECT count(*) FROM menu_items WHERE name ~ "
                        "'[А-Яа-я]'")) > 0, "Cyrillic dish names")
    # triggers back on, sequences after the data
    T.check_eq(one(db, "SELECT count(*) FROM pg_trigger WHERE NOT "
                       "tgisinternal AND tgenabled <> 'O'"), "0",
               "disabled triggers left behind")
    T.check_eq(one(db, "SELECT nextval(pg_get_serial_sequence('places', "
                       "'id')) > (SELECT max(id) FROM places)"), "t",
               "places id sequence after the data")


def test_seed_if_empty_and_existing_data():
    conf = conf_for("s1")
    before = dumps("s1")
    r = ok(ctl(conf, "seed", "--places", "10", "--if-empty"),
           "seed --if-empty")
    T.check("nothing done" in r.stdout, "--if-empty output: %r" % r.stdout)
    T.check_eq(dumps("s1"), before, "data after seed --if-empty")
    r = ctl(conf, "seed", "--places", "10")
    T.check_eq(r.returncode, 1, "seed on data without --replace")
    T.check("--replace" in r.stderr, "message: %r" % r.stderr)
    T.check_eq(dumps("s1"), before, "data after a refused seed")
    # an empty database: --if-empty seeds
    conf = new_db("s4")
    migrate(conf)
    ok(ctl(conf, "seed", "--places", "50", "--if-empty"), "seed --if-empty")
    T.check_eq(one("s4", "SELECT count(*) FROM places"), "50", "places")


def test_seed_unmigrated():
    conf = new_db("s5")
    r = ctl(conf, "seed", "--places", "10")
    T.check_eq(r.returncode, 1, "seed on an unmigrated database")
    T.check("placesctl migrate" in r.stderr, "message: %r" % r.stderr)


# --------------------------------------------------------------------------
# errors and usage

def test_bad_conninfo():
    conf = conf_for("nosuch", "host=%s/nonexistent user=app dbname=x"
                    % TMP)
    r = ctl(conf, "check")
    T.check_eq(r.returncode, 1, "exit code with an unreachable server")
    T.check(r.stderr.startswith("placesctl: connect: ") and
            "No such file or directory" in r.stderr,
            "libpq's message: %r" % r.stderr)
    conf = conf_for("garbage", "this is not a conninfo")
    r = ctl(conf, "migrate", "--dir", SQL_DIR)
    T.check_eq(r.returncode, 2, "exit code with a malformed conninfo "
               "(a configuration error)")
    T.check(r.stderr.startswith("placesctl: database.conninfo: ") and
            'missing "="' in r.stderr, "libpq's message: %r" % r.stderr)
    r = ctl(conf_for("nodb", "host=%s user=app dbname=nodb" % PG.dir),
            "check")
    T.check_eq(r.returncode, 1, "exit code with a missing database")
    T.check('database "nodb" does not exist' in r.stderr,
            "server's message: %r" % r.stderr)


def test_usage_and_config_errors():
    conf = conf_for("m1")
    for args, what in ((["frobnicate"], "an unknown command"),
                       ([], "no command"),
                       (["seed", "--places", "many"], "a bad number"),
                       (["seed", "--places", "-5"], "a negative number"),
                       (["seed", "--bogus"], "an unknown option"),
                       (["seed", "--if-empty", "--replace"],
                        "exclusive options"),
                       (["migrate", "extra"], "an extra argument"),
                       (["migrate", "--dir"], "an option without its value"),
                       (["migrate", "--dir", os.path.join(TMP, "none")],
                        "a missing migrations directory")):
        r = ctl(conf, *args)
        T.check_eq(r.returncode, 2, "exit code for %s" % what)
        T.check(r.stderr.startswith("placesctl: "),
                "%s: message %r" % (what, r.stderr))
    r = ctl(conf, "migrate", "--dir")
    T.check("--dir needs a value" in r.stderr, "message %r" % r.stderr)
    r = T.run([CTL, "-c", os.path.join(TMP, "missing.conf"), "check"])
    T.check_eq(r.returncode, 2, "exit code for a missing config file")
    T.check("missing.conf" in r.stderr, "names the file: %r" % r.stderr)
    bad = os.path.join(TMP, "bad.conf")
    with open(bad, "w") as f:
        f.write("[database]\nconninfo = host=/x\npool_size = lots\n")
    r = T.run([CTL, "-c", bad, "check"])
    T.check_eq(r.returncode, 2, "exit code for an invalid config file")
    T.check("pool_size" in r.stderr, "names the key: %r" % r.stderr)
    r = ok(T.run([CTL, "-h"]), "placesctl -h")
    T.check("migrate" in r.stdout and "seed" in r.stdout, "usage text")
    r = ok(T.run([CTL, "-V"]), "placesctl -V")
    T.check(r.stdout.startswith("placesctl "), "version: %r" % r.stdout)


if __name__ == "__main__":
    T.run_main([
        test_migrate_applies_in_order_then_nothing,
        test_concurrent_migrates,
        test_failing_migration_is_rolled_back_and_named,
        test_check,
        test_seed_is_deterministic,
        test_seed_contents,
        test_seed_if_empty_and_existing_data,
        test_seed_unmigrated,
        test_bad_conninfo,
        test_usage_and_config_errors,
    ], timeout=120, setup=setup)
