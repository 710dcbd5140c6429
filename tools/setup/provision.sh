#!/usr/bin/env bash
# Brings a fresh Debian 12 / Ubuntu 22.04 / 24.04 machine (root) to a working kzlab:
# Debian packages, then a venv from the system python3 with --system-site-packages
# (Mininet comes from apt), then the pinned Python packages of requirements.txt.
# Used by the Makefile (and so by .ci/run and ./kzlab) and by the Vagrantfile. Idempotent:
# a stamp records what was installed, so a second run returns at once. Needs only bash,
# coreutils, dpkg and apt to start (./kzlab installs what is missing, and make).
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
venv="$here/.venv"
stamp="$venv/.kzlab-provisioned"
gaps="$here/tools/setup/platform-gaps"
apt_packages=(
  make mininet iproute2 iptables nftables bridge-utils net-tools kmod procps psmisc
  iputils-ping traceroute
  util-linux tcpdump tshark openssl ca-certificates curl dnsutils iperf3
  bind9 nginx bird2 libnss3-tools libnetfilter-queue-dev
  python3 python3-venv python3-dev gcc
  # the handouts' `sudo make lab ...` (a minimal image has no sudo)
  sudo
  # the browser test (1.11) and the Vagrantfile test
  chromium vagrant
  # circumvention tools (issue 11): servers abroad and clients in subscriber hosts
  tor obfs4proxy wireguard-go wireguard-tools openvpn shadowsocks-libev dnsdist
)
# What the stamp covers: the package list, the pins, the platform gaps and this script.
want=$(cat "$0" "$here/requirements.txt" "$gaps" | sha256sum | cut -d' ' -f1)

if [ "$(id -u)" -ne 0 ]; then
  echo "provision: run as root (sudo make ...): the lab needs network namespaces" >&2
  exit 1
fi
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

# This platform's line of the gaps file ("ID VERSION_ID package..."): packages it has no
# deb for (Ubuntu's chromium is a snap, which cannot use a lab host's own NSS database).
platform=$(. /etc/os-release && echo "${ID:-} ${VERSION_ID:-}")
lacking=" "
while read -r id version packages; do
  if [ "$id $version" = "$platform" ]; then lacking+="$packages "; fi
done < "$gaps"
installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == *" ok installed" ]]; }
missing=()
for p in "${apt_packages[@]}"; do
  if [[ $lacking != *" $p "* ]] && ! installed "$p"; then missing+=("$p"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # The lab runs its own named, nginx, tor, ... inside its namespaces: keep the packages'
  # host services from starting during the install (policy-rc.d, removed afterwards).
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; made_policy=1
  fi
  trap 'if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
  echo "provision: [1/3] system packages: updating the package lists"
  apt-get update -qq
  echo "provision: [1/3] system packages: installing ${#missing[@]} (minutes on a fresh machine): ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
    echo "provision: apt-get could not install ${missing[*]} on ${platform:-this system}" \
      "(a package this platform truly lacks belongs in tools/setup/platform-gaps)" >&2
    exit 1
  }
  # Packages this run installed must not leave host services enabled for next boot.
  if [ -d /run/systemd/system ]; then
    for pair in bind9:named nginx:nginx bird2:bird tor:tor openvpn:openvpn shadowsocks-libev:shadowsocks-libev; do
      if [[ " ${missing[*]} " == *" ${pair%%:*} "* ]]; then
        systemctl disable --now "${pair##*:}" >/dev/null 2>&1 || true
      fi
    done
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "provision: [2/3] the Python venv ($venv)"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
echo "provision: [3/3] pinned Python packages (requirements.txt)"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
# The repository on the venv's path: scenario files run as plain scripts.
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$here" > "$site/kzlab.pth"
"$venv/bin/python" -c "import mininet.net, scapy.all, networkx, dns.resolver, cryptography, matplotlib" \
  || { echo "provision: the venv cannot import the lab's packages" >&2; exit 1; }
echo "$want" > "$stamp"
echo "provision: ready ($venv)"
