-- Workload 1: token validation. GET <base>/auth/tokens
-- X-Auth-Token: admin token, X-Subject-Token: a project-scoped user token.
wrk.method = "GET"
wrk.headers["X-Auth-Token"] = os.getenv("BENCH_TOKEN")
wrk.headers["X-Subject-Token"] = os.getenv("BENCH_SUBJECT")
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
