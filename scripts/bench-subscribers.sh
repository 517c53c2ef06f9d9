#!/usr/bin/env bash
# Benchmark: importing and exporting a large subscriber list, release build.
# Generates a CSV of N rows (default 1,000,000), imports it into a fresh
# database, then exports the whole list and a 10,000-row list, reporting
# wall time and peak memory (max RSS, from GNU time) for each.
# Usage: scripts/bench-subscribers.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
small=10000
dir=target/bench-subscribers
rm -rf "$dir" && mkdir -p "$dir"
if [ ! -x /usr/bin/time ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time
fi
cargo build --release --quiet
bin=$PWD/target/release/digest

python3 - "$dir/list.csv" "$rows" <<'PY'
import random, sys
path, rows = sys.argv[1], int(sys.argv[2])
roles = ["", "technical_lead", "business_owner", "executive"]
first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Zoë", "José"]
rnd = random.Random(42)
with open(path, "w", encoding="utf-8", newline="") as f:
    f.write("email,name,role\n")
    for i in range(rows):
        name = f"{rnd.choice(first)} {i}"
        if i % 7 == 0:
            name = f'"{name}, Jr."'
        f.write(f"reader{i}@mail{i % 997}.example.com,{name},{roles[i % 4]}\n")
PY
head -n $((small + 1)) "$dir/list.csv" > "$dir/small.csv"

commas() { python3 -c "print(f'{int($1):,}')"; }

measure() { # label, then the command; prints a table row
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$dir/time.txt" "$@"
  read -r secs kb < "$dir/time.txt"
  printf '| %s | %s s | %d MB |\n' "$label" "$secs" $((kb / 1024)) | tee -a "$dir/result.md"
}

printf '| step | wall | peak memory |\n|---|---:|---:|\n' > "$dir/result.md"
measure "import $(commas "$rows") rows" "$bin" --db "$dir/big.db" subscribers import "$dir/list.csv" > /dev/null
measure "import $(commas "$small") rows" "$bin" --db "$dir/small.db" subscribers import "$dir/small.csv" > /dev/null
measure "export $(commas "$rows") (csv)" sh -c "'$bin' --db '$dir/big.db' subscribers export > '$dir/big-export.csv'"
measure "export $(commas "$small") (csv)" sh -c "'$bin' --db '$dir/small.db' subscribers export > '$dir/small-export.csv'"
measure "export $(commas "$rows") (json)" sh -c "'$bin' --db '$dir/big.db' subscribers export --format json > '$dir/big-export.json'"
measure "export $(commas "$small") (json)" sh -c "'$bin' --db '$dir/small.db' subscribers export --format json > '$dir/small-export.json'"
test "$(($(wc -l < "$dir/big-export.csv") - 1))" -ge "$rows" || { echo "export lost rows" >&2; exit 1; }
echo
cat "$dir/result.md"
