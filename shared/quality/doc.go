// Package quality computes the quality KPIs that several read APIs put on the wire: the
// dashboard counters (sqal-contract §6.1–6.2, backend-new-contract §2.15 "metrics") and the
// twelve foie-gras metric blocks of the SQAL dashboard's metrics panel (sqal-contract §6.3).
//
// GET /api/sqal/dashboard/overview (sqal-api) and the former target's /api/dashboard/*
// paths (analysis-api) must report the same numbers for the same data, so the computation
// lives here once: counters are computed in SQL over their whole windows (never a capped
// row sample), and the blocks are a pure function of the newest samples (Compute), fed by
// LoadWindow.
package quality
