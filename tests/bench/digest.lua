-- tests/bench/digest.lua -- the wrk script of digest.sh and digest_readmodel.sh:
-- POST /v1/digest, the bodies of a file (args[1]) in turn, each thread from
-- its own offset; counts the 200 answers whose "errors" (the last member)
-- is not empty and prints "Digests with errors: N" (and the first) at the end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local reqs, n, i = {}, 0, 0
local nthreads, threads = 0, {}
nerr, firsterr = 0, ""
function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
	threads[nthreads] = thread
end
function init(args)
	for line in io.lines(args[1]) do
		if line ~= "" then
			n = n + 1
			reqs[n] = wrk.format("POST", "/v1/digest", nil, line)
		end
	end
	i = ((tid or 0) * 7919) % n
end
function request()
	i = i % n + 1
	return reqs[i]
end
function response(status, headers, body)
	if status ~= 200 then return end
	local tail = body:sub(-2048)
	if not tail:find('"errors":[]}', 1, true) then
		nerr = nerr + 1
		if firsterr == "" then
			firsterr = (tail:match('"errors":(%[.*)') or tail):sub(1, 300)
		end
	end
end
function done(summary, latency, requests)
	local total, first = 0, ""
	for _, t in ipairs(threads) do
		total = total + (tonumber(t:get("nerr")) or 0)
		local f = t:get("firsterr")
		if first == "" and f ~= nil and f ~= "" then first = f end
	end
	io.write(string.format("Digests with errors: %d\n", total))
	if first ~= "" then io.write("First errors: " .. first .. "\n") end
end
