// Majority quorum math: the committed index of a voter set, and the outcome of an election.
import type { NodeId } from './types.js';

export type VoteResult = 'pending' | 'lost' | 'won';

/** The largest index acknowledged by a majority of voters (Infinity for no voters, as the identity of min()). */
export function committedIndex(
  voters: ReadonlySet<NodeId>,
  matchOf: (id: NodeId) => number | undefined,
): number {
  const n = voters.size;
  if (n === 0) return Number.MAX_SAFE_INTEGER;
  // Insertion sort, descending: a handful of voters, on every acknowledgement the leader receives.
  const matches: number[] = [];
  for (const id of voters) {
    const v = matchOf(id) ?? 0;
    let i = matches.length;
    matches.push(v);
    for (; i > 0 && matches[i - 1]! < v; i--) matches[i] = matches[i - 1]!;
    matches[i] = v;
  }
  // Descending order: the (n/2+1)-th highest is held by a majority.
  return matches[Math.floor(n / 2)]!;
}

export function voteResult(voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.size === 0) return 'won';
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = Math.floor(voters.size / 2) + 1;
  if (granted >= q) return 'won';
  if (granted + missing >= q) return 'pending';
  return 'lost';
}

export function hasQuorum(voters: ReadonlySet<NodeId>, active: (id: NodeId) => boolean): boolean {
  let n = 0;
  for (const id of voters) if (active(id)) n++;
  return n >= Math.floor(voters.size / 2) + 1;
}
