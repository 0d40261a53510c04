-- gen_tasks.sql - synthetic ListTasks benchmark data (benchmark 3 of issue 3).
--
-- Fills a SEPARATE, already-migrated database (never the dev "todo" database):
--   * 100 users "user0".."user99" with 10,000 tasks each (1,000,000 rows), and
--   * one user "userbig" with 1,000,000 tasks,
-- so the table holds 2,000,000 tasks. Titles are built from word lists (verb + object
-- + optional qualifier: "Buy groceries for the weekend"), half the tasks have a
-- description, 20 tags (0-3 per task, capitalised so the case-insensitive key
-- matters), due dates: 20% none, 20% all-day dates, 60% instants from -60 to +120 days
-- (so some are overdue), priorities LOW 30% / MEDIUM 40% / HIGH 20% / URGENT 10%,
-- 30% completed, 5% recurring (a recurrence_rules row), creation over the last year.
-- Each user gets a users_revisions row and its 20 tags rows; task_tags (the
-- referential copy) is not filled: ListTasks reads tasks.tags/tag_keys only.
--
-- Indexes are dropped for the bulk load and re-created from their saved definitions
-- (so indexes of later migrations are rebuilt too). Deterministic (setseed).
-- Usage: psql -v ON_ERROR_STOP=1 "$URL" -f tests/bench/gen_tasks.sql   (~5 min, 2 cores)
\set ON_ERROR_STOP 1
SET maintenance_work_mem = '512MB';
SET synchronous_commit = off;
TRUNCATE tasks, tags, task_tags, recurrence_rules, users_revisions, changes CASCADE;

CREATE TEMP TABLE saved_idx AS
    SELECT indexname, indexdef FROM pg_indexes
    WHERE schemaname = 'public' AND tablename = 'tasks' AND indexname <> 'tasks_pkey';
DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT indexname FROM saved_idx LOOP
        EXECUTE format('DROP INDEX %I', r.indexname);
    END LOOP;
END $$;

CREATE TEMP TABLE words (verbs text[], objects text[], quals text[], descs text[], tagnames text[]);
INSERT INTO words VALUES (
  ARRAY['Buy','Call','Email','Review','Fix','Schedule','Pay','Clean','Book','Prepare',
        'Write','Plan','Update','Submit','Order','Renew','Pick up','Cancel','Organize','Read',
        'Check','Send','Finish','Draft','Return','Water','Backup','Refactor','Test','Visit'],
  ARRAY['groceries','dentist appointment','quarterly report','car insurance','electricity bill',
        'birthday present','flight tickets','hotel room','kitchen sink','garage door','tax return',
        'passport','library books','team meeting notes','project proposal','budget spreadsheet',
        'vet appointment','gym membership','laptop','phone contract','presentation slides',
        'invoice','expense report','newsletter','blog post','database migration','release notes',
        'code review','unit tests','bug tracker','printer cartridge','winter tyres','bicycle',
        'lawn mower','plants','photo album','wedding gifts','school forms','parent meeting',
        'doctor','plumber','landlord','bank statement','credit card','mortgage documents',
        'conference talk','holiday plans','train tickets','concert tickets','recipe book',
        'coffee beans','dog food','cat litter','kids shoes','summer clothes','insurance claim',
        'server logs','backups','security patch','onboarding checklist'],
  ARRAY['for the weekend','before Friday','at the office','for mom','with Alex','tomorrow',
        'next week','asap','for the trip','online','at the store','after lunch','this month',
        'for the team','(again)','#2','v2','for Q3','in town','before the deadline'],
  ARRAY['Remember to bring the receipts and the old contract.',
        'Ask about the discount; last time they offered ten percent.',
        'See the shared folder for details and previous versions.',
        'Needs a second opinion from the team before sending.',
        'Call first to check opening hours, they changed recently.',
        'Low effort, but it keeps slipping; just do it.',
        'Blocked until the budget is approved by finance.',
        'Compare at least three offers, prefer local shops.',
        'Keep the confirmation email in the travel folder.',
        'Follow up if there is no answer within two days.'],
  ARRAY['Work','Home','Personal','Errands','Urgent','Finance','Health','Family','Shopping',
        'Travel','School','Garden','Car','Bills','Fitness','Reading','Projects','Kitchen',
        'Pets','Music']);

SELECT setseed(0.42);

CREATE TEMP TABLE gen_users AS
    SELECT 'user' || u AS user_id, 10000 AS n FROM generate_series(0, 99) u
    UNION ALL SELECT 'userbig', 1000000;

INSERT INTO tasks (user_id, title, description, due_at, due_date, time_zone, priority,
                   completed_at, tags, revision, created_at, updated_at)
SELECT s.user_id,
       w.verbs[1 + floor(s.r1 * 30)::int] || ' ' || w.objects[1 + floor(s.r2 * 60)::int]
         || CASE WHEN s.r3 < 0.4 THEN ' ' || w.quals[1 + floor(s.r3 * 50)::int] ELSE '' END,
       CASE WHEN s.r4 < 0.5 THEN w.descs[1 + floor(s.r4 * 20)::int] ELSE '' END,
       CASE WHEN s.r5 >= 0.4 THEN now() + (s.r6 * 180 - 60) * interval '1 day' END,
       CASE WHEN s.r5 >= 0.2 AND s.r5 < 0.4
            THEN (now() + (s.r6 * 180 - 60) * interval '1 day')::date END,
       CASE WHEN s.r7 < 0.8 THEN 'UTC' WHEN s.r7 < 0.9 THEN 'Europe/Paris'
            ELSE 'America/New_York' END,
       CASE WHEN s.r8 < 0.3 THEN 1 WHEN s.r8 < 0.7 THEN 2 WHEN s.r8 < 0.9 THEN 3 ELSE 4 END,
       CASE WHEN s.r9 < 0.3 THEN s.created + (s.r10 * 20) * interval '1 day' END,
       CASE WHEN s.r10 < 0.25 THEN '{}'::text[]
            WHEN s.r10 < 0.65 THEN ARRAY[w.tagnames[1 + s.t0]]
            WHEN s.r10 < 0.90 THEN ARRAY[w.tagnames[1 + s.t0], w.tagnames[1 + (s.t0 + 7) % 20]]
            ELSE ARRAY[w.tagnames[1 + s.t0], w.tagnames[1 + (s.t0 + 7) % 20],
                       w.tagnames[1 + (s.t0 + 13) % 20]] END,
       s.g,
       s.created,
       s.created + (s.r11 * 30) * interval '1 day'
FROM (SELECT gu.user_id, g, random() r1, random() r2, random() r3, random() r4, random() r5,
             random() r6, random() r7, random() r8, random() r9, random() r10, random() r11,
             floor(random() * 20)::int t0,
             now() - interval '365 days' + (g::float8 / gu.n) * interval '360 days'
                 + random() * interval '5 days' AS created
      FROM gen_users gu, generate_series(1, gu.n) g) s, words w;

INSERT INTO users_revisions (user_id, revision) SELECT user_id, n FROM gen_users;
INSERT INTO tags (user_id, name, revision)
    SELECT gu.user_id, t, 1 FROM gen_users gu, words w, unnest(w.tagnames) t;
INSERT INTO recurrence_rules (task_id, user_id, freq)
    SELECT id, user_id, (ARRAY['daily','weekly','monthly','yearly'])[1 + (revision % 4)::int]
    FROM tasks WHERE (hashtext(id::text) & 1023) < 51;

DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT indexdef FROM saved_idx LOOP EXECUTE r.indexdef; END LOOP;
END $$;
VACUUM ANALYZE tasks;
VACUUM ANALYZE recurrence_rules;
VACUUM ANALYZE tags;
VACUUM ANALYZE users_revisions;
SELECT count(*) AS tasks, count(DISTINCT user_id) AS users FROM tasks;
