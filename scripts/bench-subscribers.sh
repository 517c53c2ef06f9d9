#!/usr/bin/env bash
# Benchmark: importing and exporting a large subscriber list, release build.
# Generates a CSV of N rows (default 1,000,000) and imports it into a fresh
# database; generates a Mailchimp export of N rows and imports its three
# files, then its zip; then exports the whole list and a 10,000-row list,
# reporting wall time and peak memory (max RSS, from GNU time) for each.
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
# As many rows again, none of them in the big list: added to it afterwards.
python3 - "$dir/more.csv" "$small" <<'PY'
import sys
path, rows = sys.argv[1], int(sys.argv[2])
with open(path, "w", encoding="utf-8", newline="") as f:
    f.write("email,name\n")
    for i in range(rows):
        f.write(f"later{i}@mail{i % 89}.example.net,Later {i}\n")
PY

# A Mailchimp audience export of as many rows: its three files, then the
# zip Mailchimp hands out holding them.
python3 - "$dir" "$rows" <<'PY'
import os, random, sys, zipfile
dir, rows = sys.argv[1], int(sys.argv[2])
base = "Email Address,First Name,Last Name,Company,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION"
tail = ",LAST_CHANGED,LEID,EUID,NOTES,TAGS\n"
names = {k: f"{dir}/{k}_members_export_b3.csv" for k in ("subscribed", "unsubscribed", "cleaned")}
files = {k: open(p, "w", encoding="utf-8", newline="") for k, p in names.items()}
files["subscribed"].write(base + tail)
files["unsubscribed"].write(base + ",UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_REASON_OTHER" + tail)
files["cleaned"].write(base + ",CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID" + tail)
zones = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "", "Eastern Standard Time"]
for i in range(rows):
    month = 1 + i % 9
    common = (f'member{i}@list{i % 991}.example.org,Ada{i},"Lovelace, {i}",Acme,{i % 5},'
              f'"2019-0{month}-12 10:54:27",,"2019-0{month}-12 10:55:00",,,,,,{zones[i % 5]},FR,')
    ids = f',"2023-05-01 10:00:00",{i},e{i:x},,"""Readers"""\n'
    r = i % 100
    # 90 in 100 subscribed, 8 unsubscribed, 2 cleaned; one in 100 of the
    # subscribed also in the unsubscribed file, having left later.
    if r < 90 or r == 99:
        files["subscribed"].write(common + ids)
    if 90 <= r < 97 or r == 99:
        files["unsubscribed"].write(common + f',"2024-01-0{month} 07:30:00","June digest",c1,"Other","Too many emails"' + ids)
    elif r in (97, 98):
        files["cleaned"].write(common + ',"2022-02-02 02:02:02","February digest",c5' + ids)
for f in files.values():
    f.close()
with zipfile.ZipFile(f"{dir}/mailchimp.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for path in names.values():
        z.write(path, os.path.basename(path))
PY

commas() { python3 -c "print(f'{int($1):,}')"; }

measure() { # label, then the command; prints a table row
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$dir/time.txt" "$@"
  read -r secs kb < "$dir/time.txt"
  printf '| %s | %s s | %d MB |\n' "$label" "$secs" $((kb / 1024)) | tee -a "$dir/result.md"
}

printf '| step | wall | peak memory |\n|---|---:|---:|\n' > "$dir/result.md"
measure "import $(commas "$rows") rows" "$bin" --db "$dir/big.db" subscribers import "$dir/list.csv" > /dev/null
measure "import a Mailchimp export, $(commas "$rows") rows in 3 files" "$bin" --db "$dir/mc-files.db" subscribers import "$dir"/subscribed_members_export_b3.csv "$dir"/unsubscribed_members_export_b3.csv "$dir"/cleaned_members_export_b3.csv > /dev/null
measure "import the same export as its zip" "$bin" --db "$dir/mc-zip.db" subscribers import "$dir/mailchimp.zip" > /dev/null
measure "import $(commas "$small") new rows into that list of $(commas "$rows")" "$bin" --db "$dir/big.db" subscribers import "$dir/more.csv" > /dev/null
measure "import $(commas "$small") rows" "$bin" --db "$dir/small.db" subscribers import "$dir/small.csv" > /dev/null
measure "export $(commas "$rows") (csv)" sh -c "'$bin' --db '$dir/big.db' subscribers export > '$dir/big-export.csv'"
measure "export $(commas "$small") (csv)" sh -c "'$bin' --db '$dir/small.db' subscribers export > '$dir/small-export.csv'"
measure "export $(commas "$rows") (json)" sh -c "'$bin' --db '$dir/big.db' subscribers export --format json > '$dir/big-export.json'"
measure "export $(commas "$small") (json)" sh -c "'$bin' --db '$dir/small.db' subscribers export --format json > '$dir/small-export.json'"
test "$(($(wc -l < "$dir/big-export.csv") - 1))" -ge "$rows" || { echo "export lost rows" >&2; exit 1; }
echo
cat "$dir/result.md"
