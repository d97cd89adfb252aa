// Preloaded into a command by bench/drain-scale.bench.ts (node --import): when the process exits,
// appends its peak resident set size (process.resourceUsage().maxRSS, in kB) to the file named by
// BOSUN_BENCH_RSS_FILE. Not part of bosun.
import { appendFileSync } from 'node:fs';

const file = process.env.BOSUN_BENCH_RSS_FILE;
if (file) process.on('exit', () => appendFileSync(file, `${process.resourceUsage().maxRSS}\n`));
