/*
 * The Redis contract, version 1: key names and the Lua scripts that change
 * them.  Every write of a job's outcome is one script, so it is atomic; all
 * keys a script touches are passed in KEYS (none is built inside Lua).
 * Keys of one teacher carry the hash tag {teacher-id}.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

#define P	(rd->conf.redis_prefix)

char *key_jobs(void) { char *k; xasprintf(&k, "%sjobs", P); return k; }
char *key_diffs(void) { char *k; xasprintf(&k, "%sdiffs", P); return k; }
char *key_dead(void) { char *k; xasprintf(&k, "%sdead", P); return k; }
char *key_events(void) { char *k; xasprintf(&k, "%sevents", P); return k; }
char *key_accounts(void) { char *k; xasprintf(&k, "%saccounts", P); return k; }
char *key_instances(void) { char *k; xasprintf(&k, "%s" KEY_INSTANCES, P); return k; }
char *key_paused(void) { char *k; xasprintf(&k, "%s" KEY_PAUSED, P); return k; }

char *
key_job(const char *job_id)
{
	char *k;

	xasprintf(&k, "%sjob:%s", P, job_id);
	return k;
}

char *
key_token(const char *teacher)
{
	char *k;

	xasprintf(&k, "%stoken:%s", P, teacher);
	return k;
}

char *
key_district_token(const char *district)
{
	char *k;

	xasprintf(&k, "%sdistrict_token:%s", P, district);
	return k;
}

/* Per-teacher keys share the hash tag {teacher}. */
static char *
key_teacher(const char *what, const char *teacher)
{
	char *k;

	xasprintf(&k, "%s%s:{%s}", P, what, teacher);
	return k;
}

char *key_snapshot(const char *t) { return key_teacher("snapshot", t); }
char *key_lock(const char *t) { return key_teacher("lock", t); }
char *key_state(const char *t) { return key_teacher("state", t); }
char *key_selection(const char *t) { return key_teacher("selection", t); }
char *key_sections(const char *t) { return key_teacher("sections", t); }

char *
key_ratelimit(const char *owner)
{
	char *k;

	xasprintf(&k, "%sratelimit:{%s}", P, owner);
	return k;
}

#define LUA_COMMON \
	"local function now_ms()\n" \
	"  local t = redis.call('TIME')\n" \
	"  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n" \
	"end\n" \
	"local function publish(ch, m)\n" \
	"  redis.call('PUBLISH', ch, cjson.encode(m))\n" \
	"end\n" \
	"local function release(lk, val)\n" \
	"  if val ~= '' and redis.call('GET', lk) == val then\n" \
	"    redis.call('DEL', lk)\n" \
	"  end\n" \
	"end\n"

/*
 * ADMIT, for a batch of n jobs.  KEYS[1] jobs stream, then per job: status,
 * teacher state, teacher lock.  ARGV: group, consumer, status ttl, lock ttl,
 * channel, n, then per job: entry id, job id, teacher, kind, ref, request
 * time, lock value.  Per job the answer is {'C', job it was coalesced with}
 * (a sync that started after the request already finished: done), {'R',
 * started_ms, attempts} (lock taken: run it) or {'B'} (teacher busy).
 */
static const char lua_admit[] = LUA_COMMON
"local group, consumer = ARGV[1], ARGV[2]\n"
"local ttl, lockttl, ch = ARGV[3], ARGV[4], ARGV[5]\n"
"local now, out, acks = now_ms(), {}, {}\n"
"local nows = string.format('%d', now)\n"
"for i = 1, tonumber(ARGV[6]) do\n"
"  local sk, tk, lk = KEYS[3*i-1], KEYS[3*i], KEYS[3*i+1]\n"
"  local a = 6 + 7*(i-1)\n"
"  local eid, jid, teacher, kind, ref = ARGV[a+1], ARGV[a+2], ARGV[a+3], ARGV[a+4], ARGV[a+5]\n"
"  local reqs, lockval = ARGV[a+6], ARGV[a+7]\n"
"  local st\n"
"  if kind == 'discover' then st = redis.call('HMGET', tk, 'any_started_ms', 'any_job', 'any_version')\n"
"  else st = redis.call('HMGET', tk, 'done_started_ms', 'done_job', 'done_version') end\n"
"  local prev = redis.call('HGET', sk, 'state')\n"
"  if st[1] and tonumber(st[1]) >= tonumber(reqs) then\n"
"    redis.call('HSET', sk, 'state', 'done', 'job', jid, 'teacher', teacher, 'kind', kind, 'ref', ref,\n"
"      'created_ms', reqs, 'updated_ms', nows, 'finished_ms', nows, 'result', 'coalesced',\n"
"      'coalesced_with', st[2] or '', 'version', st[3] or '0')\n"
"    if prev then redis.call('HDEL', sk, 'error', 'message', 'note', 'next_attempt_ms') end\n"
"    redis.call('EXPIRE', sk, ttl)\n"
"    acks[#acks+1] = eid\n"
"    -- the hot path: ids are safe (checked by rosterd), only ref needs encoding\n"
"    redis.call('PUBLISH', ch, '{\"job\":\"' .. jid .. '\",\"teacher\":\"' .. teacher ..\n"
"      '\",\"state\":\"done\",\"result\":\"coalesced\",\"coalesced_with\":\"' .. (st[2] or '') ..\n"
"      '\",\"ref\":' .. cjson.encode(ref) .. '}')\n"
"    out[i] = {'C', st[2] or ''}\n"
"  elseif redis.call('SET', lk, lockval, 'NX', 'PX', lockttl) then\n"
"    local att = redis.call('HINCRBY', sk, 'attempts', 1)\n"
"    redis.call('HSET', sk, 'state', 'running', 'job', jid, 'teacher', teacher, 'kind', kind, 'ref', ref,\n"
"      'created_ms', reqs, 'updated_ms', nows, 'started_ms', nows, 'consumer', consumer)\n"
"    if prev then redis.call('HDEL', sk, 'note', 'next_attempt_ms') end\n"
"    redis.call('EXPIRE', sk, ttl)\n"
"    redis.call('HSET', tk, 'running_job', jid, 'running_started_ms', nows)\n"
"    publish(ch, {job = jid, teacher = teacher, state = 'running', attempts = att, ref = ref})\n"
"    out[i] = {'R', nows, att}\n"
"  else\n"
"    if prev ~= 'queued' then\n"
"      redis.call('HSET', sk, 'state', 'queued', 'job', jid, 'teacher', teacher, 'kind', kind, 'ref', ref,\n"
"        'created_ms', reqs, 'updated_ms', nows, 'note', 'waiting for the running sync of this teacher')\n"
"      redis.call('EXPIRE', sk, ttl)\n"
"      publish(ch, {job = jid, teacher = teacher, state = 'queued', ref = ref})\n"
"    end\n"
"    out[i] = {'B'}\n"
"  end\n"
"end\n"
"if #acks > 0 then redis.call('XACK', KEYS[1], group, unpack(acks)) end\n"
"return out\n";

/*
 * LOAD what a sync needs.  KEYS: token, teacher state, snapshot, selection.
 * Returns {token, district, snapshot version, snapshot, selection}, false
 * where absent.
 */
static const char lua_load[] =
"local sn = redis.call('HMGET', KEYS[3], 'version', 'roster')\n"
"return {redis.call('GET', KEYS[1]), redis.call('HGET', KEYS[2], 'district'),\n"
"  sn[1] or '0', sn[2], redis.call('GET', KEYS[4])}\n";

/*
 * WRITEBACK: compare-and-set on the snapshot version, then diff, snapshot,
 * teacher state, job status, ack, unlock and publish in one step.
 * KEYS: snapshot, diffs, status, jobs, lock, state, accounts.
 * ARGV: group, entry id, lock value, base version, new version, snapshot,
 * diff ('' = no changes), job id, teacher, channel, status ttl, diff maxlen,
 * started_ms, email_lc, authorized_by, counts (JSON object), requests,
 * district, kind, ref.
 */
static const char lua_writeback[] = LUA_COMMON
"if redis.call('GET', KEYS[5]) ~= ARGV[3] then return {'LOST'} end\n"
"local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')\n"
"if cur ~= tonumber(ARGV[4]) then return {'CONFLICT', tostring(cur)} end\n"
"local now, jid, teacher, ch = now_ms(), ARGV[8], ARGV[9], ARGV[10]\n"
"local started, version, diff_id = tonumber(ARGV[13]), cur, ''\n"
"local counts = cjson.decode(ARGV[16])\n"
"if ARGV[7] ~= '' then\n"
"  version = tonumber(ARGV[5])\n"
"  local x = {'XADD', KEYS[2]}\n"
"  if tonumber(ARGV[12]) > 0 then\n"
"    x[#x+1] = 'MAXLEN'; x[#x+1] = '~'; x[#x+1] = ARGV[12]\n"
"  end\n"
"  for _, v in ipairs({'*', 'v', '1', 'teacher', teacher, 'job', jid, 'ref', ARGV[20],\n"
"    'base_version', tostring(cur), 'version', tostring(version),\n"
"    'added', tostring(counts.added), 'updated', tostring(counts.updated),\n"
"    'removed', tostring(counts.removed), 'diff', ARGV[7]}) do x[#x+1] = v end\n"
"  diff_id = redis.call(unpack(x))\n"
"  redis.call('HSET', KEYS[1], 'version', version, 'roster', ARGV[6], 'job', jid,\n"
"    'diff_id', diff_id, 'synced_ms', now)\n"
"elseif cur > 0 then\n"
"  redis.call('HSET', KEYS[1], 'synced_ms', now)\n"
"end\n"
"local account = ''\n"
"if ARGV[14] ~= '' then account = redis.call('HGET', KEYS[7], ARGV[14]) or '' end\n"
"local prev = redis.call('HMGET', KEYS[6], 'authorized_by', 'done_started_ms', 'any_started_ms')\n"
"local changed = ''\n"
"if prev[1] and ARGV[15] ~= '' and prev[1] ~= ARGV[15] then changed = prev[1] .. '->' .. ARGV[15] end\n"
"redis.call('HSET', KEYS[6], 'done_started_ms', math.max(tonumber(prev[2] or 0), started),\n"
"  'any_started_ms', math.max(tonumber(prev[3] or 0), started), 'done_job', jid, 'any_job', jid,\n"
"  'done_version', version, 'any_version', version, 'authorized_by', ARGV[15], 'last_sync_ms', now)\n"
"if ARGV[18] ~= '' then redis.call('HSET', KEYS[6], 'district', ARGV[18]) end\n"
"redis.call('HDEL', KEYS[6], 'running_job', 'running_started_ms')\n"
"local result = diff_id ~= '' and 'changed' or 'no changes'\n"
"local h = {'HSET', KEYS[3], 'state', 'done', 'job', jid, 'teacher', teacher, 'kind', ARGV[19],\n"
"  'updated_ms', now, 'finished_ms', now, 'result', result, 'version', version,\n"
"  'base_version', cur, 'diff_id', diff_id, 'requests', ARGV[17], 'account', account,\n"
"  'authorized_by', ARGV[15], 'authorized_by_changed', changed}\n"
"for k, v in pairs(counts) do h[#h+1] = k; h[#h+1] = tostring(v) end\n"
"redis.call(unpack(h))\n"
"redis.call('HDEL', KEYS[3], 'error', 'message', 'note', 'next_attempt_ms')\n"
"redis.call('EXPIRE', KEYS[3], tonumber(ARGV[11]))\n"
"redis.call('XACK', KEYS[4], ARGV[1], ARGV[2])\n"
"redis.call('DEL', KEYS[5])\n"
"publish(ch, {job = jid, teacher = teacher, state = 'done', result = result, version = version,\n"
"  diff_id = diff_id, account = account, authorized_by = ARGV[15],\n"
"  authorized_by_changed = changed, ref = ARGV[20]})\n"
"return {'OK', diff_id, tostring(version), account, changed}\n";

/*
 * DISCOVERED: store the section list for the picker.  KEYS: sections,
 * status, jobs, lock, state.  ARGV: group, entry id, lock value, sections
 * JSON, job id, teacher, channel, status ttl, started_ms, count, requests,
 * authorized_by, ref.
 */
static const char lua_discovered[] = LUA_COMMON
"if redis.call('GET', KEYS[4]) ~= ARGV[3] then return {'LOST'} end\n"
"local now, jid, teacher = now_ms(), ARGV[5], ARGV[6]\n"
"redis.call('SET', KEYS[1], ARGV[4])\n"
"local prev = tonumber(redis.call('HGET', KEYS[5], 'any_started_ms') or 0)\n"
"redis.call('HSET', KEYS[5], 'any_started_ms', math.max(prev, tonumber(ARGV[9])), 'any_job', jid,\n"
"  'authorized_by', ARGV[12])\n"
"redis.call('HDEL', KEYS[5], 'running_job', 'running_started_ms')\n"
"redis.call('HSET', KEYS[2], 'state', 'done', 'job', jid, 'teacher', teacher, 'kind', 'discover',\n"
"  'updated_ms', now, 'finished_ms', now, 'result', 'discovered', 'sections', ARGV[10],\n"
"  'requests', ARGV[11], 'authorized_by', ARGV[12])\n"
"redis.call('HDEL', KEYS[2], 'error', 'message', 'note', 'next_attempt_ms')\n"
"redis.call('EXPIRE', KEYS[2], tonumber(ARGV[8]))\n"
"redis.call('XACK', KEYS[3], ARGV[1], ARGV[2])\n"
"redis.call('DEL', KEYS[4])\n"
"publish(ARGV[7], {job = jid, teacher = teacher, state = 'done', result = 'discovered',\n"
"  sections = tonumber(ARGV[10]), ref = ARGV[13]})\n"
"return {'OK'}\n";

/*
 * FAIL: a job that cannot succeed (failed, dead) or is held by the shrink
 * guard: status, dead letter, ack, unlock, publish.  KEYS: status, jobs,
 * lock, dead, state.  ARGV: group, entry id, lock value, job id, teacher,
 * kind, ref, state, code, message, channel, status ttl, extra (JSON object
 * of more status fields), district, force.
 */
static const char lua_fail[] = LUA_COMMON
"local now, jid, teacher = now_ms(), ARGV[4], ARGV[5]\n"
"local h = {'HSET', KEYS[1], 'state', ARGV[8], 'job', jid, 'teacher', teacher, 'kind', ARGV[6],\n"
"  'ref', ARGV[7], 'error', ARGV[9], 'message', ARGV[10], 'updated_ms', now, 'finished_ms', now}\n"
"for k, v in pairs(cjson.decode(ARGV[13])) do h[#h+1] = k; h[#h+1] = tostring(v) end\n"
"redis.call(unpack(h))\n"
"redis.call('HDEL', KEYS[1], 'note', 'next_attempt_ms')\n"
"redis.call('EXPIRE', KEYS[1], tonumber(ARGV[12]))\n"
"local att = redis.call('HGET', KEYS[1], 'attempts') or '0'\n"
"redis.call('XADD', KEYS[4], '*', 'job', jid, 'teacher', teacher, 'kind', ARGV[6], 'ref', ARGV[7],\n"
"  'district', ARGV[14], 'force', ARGV[15], 'state', ARGV[8], 'error', ARGV[9],\n"
"  'message', ARGV[10], 'attempts', att, 'entry', ARGV[2], 'failed_ms', tostring(now))\n"
"redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])\n"
"release(KEYS[3], ARGV[3])\n"
"if teacher ~= '' then redis.call('HDEL', KEYS[5], 'running_job', 'running_started_ms') end\n"
"publish(ARGV[11], {job = jid, teacher = teacher, state = ARGV[8], error = ARGV[9],\n"
"  message = ARGV[10], ref = ARGV[7]})\n"
"return {'OK'}\n";

/*
 * RETRY: a transient failure; the job stays pending with this consumer and
 * is admitted again after next_ms.  KEYS: status, lock, state.  ARGV: lock
 * value, job id, teacher, code, message, next attempt (ms from now),
 * channel, status ttl, ref.
 */
static const char lua_retry[] = LUA_COMMON
"local now = now_ms()\n"
"redis.call('HSET', KEYS[1], 'state', 'retrying', 'error', ARGV[4], 'message', ARGV[5],\n"
"  'updated_ms', now, 'next_attempt_ms', now + tonumber(ARGV[6]))\n"
"redis.call('EXPIRE', KEYS[1], tonumber(ARGV[8]))\n"
"release(KEYS[2], ARGV[1])\n"
"redis.call('HDEL', KEYS[3], 'running_job', 'running_started_ms')\n"
"publish(ARGV[7], {job = ARGV[2], teacher = ARGV[3], state = 'retrying', error = ARGV[4],\n"
"  message = ARGV[5], ref = ARGV[9]})\n"
"return {'OK'}\n";

/*
 * HANDBACK on shutdown: re-queue the job as a new entry that keeps its job
 * id and request time, ack the old entry, unlock.  KEYS: jobs, status,
 * lock, state.  ARGV: group, entry id, lock value, job id, teacher, kind,
 * ref, district, request time, force, channel, consumer.
 */
static const char lua_handback[] = LUA_COMMON
"local x = {'XADD', KEYS[1], '*', 'teacher', ARGV[5], 'kind', ARGV[6], 'job_id', ARGV[4],\n"
"  'requested_ms', ARGV[9]}\n"
"if ARGV[7] ~= '' then x[#x+1] = 'ref'; x[#x+1] = ARGV[7] end\n"
"if ARGV[8] ~= '' then x[#x+1] = 'district'; x[#x+1] = ARGV[8] end\n"
"if ARGV[10] == '1' then x[#x+1] = 'force'; x[#x+1] = '1' end\n"
"local id = redis.call(unpack(x))\n"
"redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n"
"release(KEYS[3], ARGV[3])\n"
"if ARGV[3] ~= '' then redis.call('HDEL', KEYS[4], 'running_job', 'running_started_ms') end\n"
"if redis.call('EXISTS', KEYS[2]) == 1 then\n"
"  redis.call('HSET', KEYS[2], 'state', 'queued', 'updated_ms', now_ms(),\n"
"    'note', 'handed back by ' .. ARGV[12] .. ' at shutdown')\n"
"end\n"
"publish(ARGV[11], {job = ARGV[4], teacher = ARGV[5], state = 'queued', ref = ARGV[7]})\n"
"return id\n";

/* RENEW a lock we hold.  KEYS: lock.  ARGV: value, ttl ms. */
static const char lua_renew[] =
"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
"  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
"end\n"
"return 0\n";

/*
 * PERMIT: take up to n request permits of a token's window, shared by every
 * instance.  The window opens with the first request (as Clever's does) and
 * follows what Clever's headers said (OBSERVE).  Returns {granted, ms to
 * wait before asking for the rest}.  KEYS: ratelimit hash.  ARGV: n,
 * default limit, window ms.
 */
static const char lua_permit[] = LUA_COMMON
"local now, n = now_ms(), tonumber(ARGV[1])\n"
"local h = redis.call('HMGET', KEYS[1], 'reset_ms', 'used', 'limit', 'blocked_until')\n"
"local reset, used = tonumber(h[1] or 0), tonumber(h[2] or 0)\n"
"local limit, blocked = tonumber(h[3] or ARGV[2]), tonumber(h[4] or 0)\n"
"if blocked > now then return {0, blocked - now} end\n"
"if now >= reset then reset = now + tonumber(ARGV[3]); used = 0 end\n"
"local granted = math.max(0, math.min(n, limit - used))\n"
"if granted > 0 then\n"
"  redis.call('HSET', KEYS[1], 'reset_ms', reset, 'used', used + granted, 'limit', limit)\n"
"  redis.call('PEXPIREAT', KEYS[1], reset + tonumber(ARGV[3]))\n"
"end\n"
"if granted == n then return {granted, 0} end\n"
"return {granted, math.max(reset - now, 1)}\n";

/*
 * OBSERVE Clever's X-RateLimit headers: adopt its limit, window and count.
 * X-RateLimit-Reset has one-second resolution: the window really ends
 * within the second after it, so take the end of that second.  A reset
 * well past ours means Clever's window already rolled over: start ours
 * again from its count.  After a 429 or at zero remaining, block until the
 * reset.  KEYS: ratelimit hash.  ARGV: limit, remaining, reset (epoch s, 0
 * if unknown), was 429 (0/1), window ms.
 */
static const char lua_observe[] = LUA_COMMON
"local now = now_ms()\n"
"local limit, remaining = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
"local reset = tonumber(ARGV[3]) * 1000 + 1000\n"
"local h = redis.call('HMGET', KEYS[1], 'used', 'reset_ms')\n"
"local used, ours = tonumber(h[1] or 0), tonumber(h[2] or 0)\n"
"if reset <= now then reset = ours end\n"
"if reset <= now then reset = now + tonumber(ARGV[5]) end\n"
"if limit > 0 then\n"
"  if reset > ours + 1000 then\n"
"    used = limit - remaining\n"
"  else\n"
"    used = math.max(used, limit - remaining); reset = math.max(reset, ours)\n"
"  end\n"
"  redis.call('HSET', KEYS[1], 'limit', limit, 'reset_ms', reset, 'used', used)\n"
"end\n"
"if ARGV[4] == '1' or (limit > 0 and remaining <= 0) then\n"
"  redis.call('HSET', KEYS[1], 'blocked_until', reset)\n"
"end\n"
"redis.call('PEXPIREAT', KEYS[1], reset + tonumber(ARGV[5]))\n"
"return 0\n";

static const char *const scripts[SCRIPT_COUNT] = {
	[SCRIPT_ADMIT] = lua_admit,
	[SCRIPT_LOAD] = lua_load,
	[SCRIPT_WRITEBACK] = lua_writeback,
	[SCRIPT_DISCOVERED] = lua_discovered,
	[SCRIPT_FAIL] = lua_fail,
	[SCRIPT_RETRY] = lua_retry,
	[SCRIPT_HANDBACK] = lua_handback,
	[SCRIPT_RENEW] = lua_renew,
	[SCRIPT_PERMIT] = lua_permit,
	[SCRIPT_OBSERVE] = lua_observe,
};

/* SHA1 of each script once Redis has it (SCRIPT LOAD), else NULL. */
static char *script_sha[SCRIPT_COUNT];

struct eval_ctx {
	enum store_script	 script;
	rconn_reply_cb		 cb;
	void			*arg;
};

/*
 * Scripts are loaded whenever the connection becomes ready, before any
 * other command on it, so EVALSHA finds them; only a SCRIPT FLUSH by hand
 * can make Redis forget one.  Then this one command fails (its job retries)
 * and the scripts are loaded again.  Arguments are not kept for a resend:
 * a write-back carries a whole roster.
 */
static void
on_eval(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct eval_ctx *e = arg;

	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		log_warnx("redis script %d failed: %s", e->script, r->str);
		if (strncmp(r->str, "NOSCRIPT", 8) == 0) {
			free(script_sha[e->script]);
			script_sha[e->script] = NULL;
			store_init();
		}
	}
	if (e->cb != NULL)
		e->cb(c, r, err, e->arg);
	free(e);
}

void
store_eval(enum store_script s, int nkeys, int argc, const char **argv,
    const size_t *argvlen, rconn_reply_cb cb, void *arg)
{
	struct eval_ctx *e = xmalloc(sizeof(*e));
	const char **av = xcalloc((size_t)argc + 3, sizeof(*av));
	size_t *al = xcalloc((size_t)argc + 3, sizeof(*al));
	char nk[16];
	int i;

	e->script = s;
	e->cb = cb;
	e->arg = arg;
	snprintf(nk, sizeof(nk), "%d", nkeys);
	av[0] = script_sha[s] ? "EVALSHA" : "EVAL";
	av[1] = script_sha[s] ? script_sha[s] : scripts[s];
	av[2] = nk;
	for (i = 0; i < 3; i++)
		al[i] = strlen(av[i]);
	for (i = 0; i < argc; i++) {
		av[i + 3] = argv[i];
		al[i + 3] = argvlen ? argvlen[i] : strlen(argv[i]);
	}
	/* hiredis formats the command at once: nothing here is kept */
	rconn_commandargv(rd->rc, 0, on_eval, e, argc + 3, av, al);
	free(av);
	free(al);
}

static void
on_script_load(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	enum store_script s = (enum store_script)(intptr_t)arg;

	if (r == NULL || r->type != REDIS_REPLY_STRING) {
		log_warnx("SCRIPT LOAD failed: %s", err ? err :
		    (r && r->type == REDIS_REPLY_ERROR ? r->str : "?"));
		return;
	}
	free(script_sha[s]);
	script_sha[s] = xstrdup(r->str);
}

/* Load every script; called whenever the command connection is ready. */
void
store_init(void)
{
	int s;

	for (s = 0; s < SCRIPT_COUNT; s++)
		rconn_command(rd->rc, 0, on_script_load, (void *)(intptr_t)s,
		    "SCRIPT LOAD %s", scripts[s]);
}

void
store_free(void)
{
	int s;

	for (s = 0; s < SCRIPT_COUNT; s++) {
		free(script_sha[s]);
		script_sha[s] = NULL;
	}
}
