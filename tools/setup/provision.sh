#!/usr/bin/env bash
# Brings a fresh Debian 12 / Ubuntu 22.04 / 24.04 machine (root) to a working kzlab:
# Debian packages, then a venv from the system python3 with --system-site-packages
# (Mininet comes from apt), then the pinned Python packages of requirements.txt.
# Used by the Makefile (and so by .ci/run) and by the Vagrantfile. Idempotent: a stamp
# records what was installed, so a second run returns at once.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
venv="$here/.venv"
stamp="$venv/.kzlab-provisioned"
apt_packages=(
  mininet iproute2 iptables nftables bridge-utils net-tools kmod procps psmisc
  iputils-ping traceroute
  util-linux tcpdump tshark openssl ca-certificates curl dnsutils iperf3
  bind9 nginx bird2 libnss3-tools libnetfilter-queue-dev
  python3 python3-venv python3-dev gcc
)
# Installed where the distribution packages them as debs: vagrant (for the Vagrantfile
# test; Ubuntu 24.04 dropped it) and chromium (the browser test, 1.11; Ubuntu ships it
# only as a snap, which cannot use a lab host's own NSS database).
optional_packages=(vagrant chromium)
# What the stamp covers: the package list, the pins and this script itself.
want=$(cat "$0" "$here/requirements.txt" | sha256sum | cut -d' ' -f1)

if [ "$(id -u)" -ne 0 ]; then
  echo "provision: run as root (sudo make ...): the lab needs network namespaces" >&2
  exit 1
fi
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
missing=()
for p in "${apt_packages[@]}"; do installed "$p" || missing+=("$p"); done
optional_missing=()
for p in "${optional_packages[@]}"; do installed "$p" || optional_missing+=("$p"); done
if [ $((${#missing[@]} + ${#optional_missing[@]})) -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # The lab runs its own named and nginx inside its namespaces: keep the packages'
  # host services from starting during the install (policy-rc.d, removed afterwards).
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; made_policy=1
  fi
  trap 'if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
  apt-get update -qq
  # Read apt-cache's whole answer before matching: `apt-cache ... | grep -q` under
  # pipefail is false whenever grep stops reading first (apt-cache then dies of SIGPIPE).
  for p in "${optional_missing[@]}"; do
    policy_text=$(apt-cache policy "$p" 2>/dev/null || true)
    if [[ $policy_text == *"Candidate: "[0-9]* ]]; then missing+=("$p"); fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "provision: installing ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Packages this run installed must not leave host services enabled for next boot.
  if [ -d /run/systemd/system ]; then
    for pair in bind9:named nginx:nginx bird2:bird; do
      if printf '%s\n' "${missing[@]}" | grep -qx "${pair%%:*}"; then
        systemctl disable --now "${pair##*:}" >/dev/null 2>&1 || true
      fi
    done
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
# The repository on the venv's path: scenario files run as plain scripts.
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$here" > "$site/kzlab.pth"
"$venv/bin/python" -c "import mininet.net, scapy.all, networkx, dns.resolver, cryptography, matplotlib" \
  || { echo "provision: the venv cannot import the lab's packages" >&2; exit 1; }
echo "$want" > "$stamp"
echo "provision: ready ($venv)"
