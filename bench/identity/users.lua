-- Workload 3: user list. GET <base>/users with an admin token.
wrk.method = "GET"
wrk.headers["X-Auth-Token"] = os.getenv("BENCH_TOKEN")
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
