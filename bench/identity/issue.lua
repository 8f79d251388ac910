-- Workload 2: token issue. POST <base>/auth/tokens, password method,
-- project-scoped; the JSON body is the same for every target.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY")
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
