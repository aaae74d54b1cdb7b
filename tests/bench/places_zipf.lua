-- tests/bench/places_zipf.lua -- wrk script for tests/bench/places.sh:
-- GET /v1/places/{id} with Zipf-distributed ids.  args: N [S]
--
-- Rank k in 1..N is drawn with probability proportional to 1 / k^S (S
-- defaults to 1.1), by binary search in the cumulative distribution built
-- in init().  Ranks are mapped to ids by a fixed permutation,
-- id = ((k - 1) * P mod N) + 1 with P a prime coprime to N, the same in
-- every thread and every run, so the hot ids are spread over the cities
-- rather than being the first ids seeded.
local n, s, cdf, perm_p, pre, post
local nthreads = 0
function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
end
local function gcd(a, b)
	while b ~= 0 do a, b = b, a % b end
	return a
end
function init(args)
	n = tonumber(args[1])
	s = tonumber(args[2] or "1.1")
	cdf = {}
	local sum = 0
	for k = 1, n do
		sum = sum + 1 / (k ^ s)
		cdf[k] = sum
	end
	for k = 1, n do cdf[k] = cdf[k] / sum end
	cdf[n] = 1
	perm_p = 7919
	while gcd(perm_p, n) ~= 1 do perm_p = perm_p + 2 end
	local r = wrk.format("GET", "/v1/places/@@")
	local i = r:find("@@", 1, true)
	pre, post = r:sub(1, i - 1), r:sub(i + 2)
	math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
	for _ = 1, 10 do math.random() end
end
function request()
	local u = math.random()
	local lo, hi = 1, n
	while lo < hi do
		local mid = math.floor((lo + hi) / 2)
		if cdf[mid] < u then lo = mid + 1 else hi = mid end
	end
	return pre .. (((lo - 1) * perm_p) % n + 1) .. post
end
