// The exit codes of every ai-processor program (README): 0 done, 1 refused by the daemon (conflict,
// not holder, unknown id), 2 usage error, 3 daemon unreachable or failing. Defined once here.
export const EXIT = { ok: 0, refused: 1, usage: 2, unavailable: 3 } as const;
