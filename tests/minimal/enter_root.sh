#!/usr/bin/env bash
# enter_root.sh ROOT COMMAND...: runs COMMAND with ROOT as its / as a container would, and
# reports what it left. Started as `unshare --mount --pid --fork --kill-child bash
# enter_root.sh ...`, so this script is PID 1 of a new PID namespace with a mount table of
# its own (private propagation: nothing mounted here is seen by the host). It bind-mounts
# ROOT on itself and mounts the new namespace's /proc, /sys, /dev (bind) and a tmpfs /run
# into it; COMMAND runs in a further mount namespace whose root is pivoted to ROOT (not
# chrooted: a chroot is left by any process that enters one of the lab's mount
# namespaces). Afterwards it unmounts everything, however COMMAND ended, and prints one
# line: COMMAND's exit status and what is left (processes of the PID namespace other than
# itself, named network namespaces in ROOT's /run/netns, mounts under ROOT), "left:
# nothing" when nothing is.
set -uo pipefail

root=$1
shift
if [ $$ -ne 1 ]; then
  echo "enter_root: run me as PID 1 of a new PID namespace (unshare --mount --pid --fork)" >&2
  exit 2
fi
unmount() { if mountpoint -q "$root"; then umount -R "$root"; fi; }
trap unmount EXIT
mount --bind "$root" "$root" &&
  mount -t proc proc "$root/proc" &&
  mount -t sysfs sysfs "$root/sys" &&
  mount --rbind /dev "$root/dev" &&
  mount -t tmpfs -o mode=0755 tmpfs "$root/run" || exit 2
echo "enter_root: PID namespace $(readlink "$root/proc/1/ns/pid")"

# pivot_root(".", "."): the old root lands on top of the new one and is detached at once.
unshare --mount -- bash -c 'cd "$1" && pivot_root . . && umount -l . && shift && exec "$@"' \
  enter_root "$root" "$@"
status=$?

shopt -s nullglob
processes=()
for p in "$root"/proc/[0-9]*; do # the new PID namespace's own /proc
  pid=${p##*/}
  if [ "$pid" != 1 ]; then processes+=("$pid:$(tr '\0' ' ' < "$p/cmdline")"); fi
done
netns=("$root"/run/netns/*)
unmount
trap - EXIT
mounts=()
while read -r _ _ _ _ point _; do
  if [[ $point == "$root" || $point == "$root"/* ]]; then mounts+=("$point"); fi
done < /proc/self/mountinfo
left=""
if [ ${#processes[@]} -gt 0 ]; then left+=" processes ${processes[*]};"; fi
if [ ${#netns[@]} -gt 0 ]; then left+=" network namespaces ${netns[*]};"; fi
if [ ${#mounts[@]} -gt 0 ]; then left+=" mounts ${mounts[*]};"; fi
echo "enter_root: exit ${status}; left:${left:- nothing}"
exit "$status"
