/**
 * Forwarding chains with on-net middle hops, and loops behind a B2BUA that resets the redirection counter
 * (issue #13; fraud.md §2.1 "Chains and loops", §5.2 S3 evasive variant).
 *
 * - Chain: our line A forwards unconditionally (CFU) to our line B, which forwards to C abroad (a revenue-
 *   share range by default); calls into A are answered at C for minutes. Every diverting line (A, B, ...)
 *   and the final target C are fraud entities. Through our own switch the counter grows (1, 2, ...); with
 *   `resetCounter` a B2BUA between the hops (a PBX or SIP peer that starts a new call, RFC 7332) writes
 *   every leg with counter 1 and the diverting line itself as the original called number, so only the
 *   numbers tie the legs together.
 * - Loop: our lines A and B both forward to X, a B2BUA off net (another operator's SIP peer or hosted PBX)
 *   that presents each call it receives as a new call to the other line: A -> X -> B -> X -> A ... Every leg
 *   is written with counter 1 and its own line as original called number (the B2BUA starts a new call and
 *   strips the diversion history), the same numbers repeat every second or so, until the caller gives up or
 *   the B2BUA's resources run out (Q.850 34).
 *   RFC 7332: B2BUAs that reset Max-Forwards can loop indefinitely; FreeSWITCH warns resetting max_forwards
 *   "can cause potential cyclic calls between two operators". A, B and X are fraud entities.
 */
import { Rng, hash2 } from '../random.js';
import { HOUR_MS, MINUTE_MS } from '../calendar.js';
import { fixedNumber, offnetMobile } from '../numbering.js';
import { REGIONS } from '../geography.js';
import { LineKind } from '../population.js';
import { Q850, offnet, type Actor, type Engine, type LabelAcc, type Leg } from '../engine.js';
import { Destination, activeLine, attackerNumber, labelParams, mergeLabels, minutes, nextLocal, pickLines, pickRange, resolveStart, startParam, type ScenarioDef } from './common.js';

export const cfB2bua: ScenarioDef = {
  name: 'cf-b2bua',
  ref: 'docs/FRAUD.md',
  summary: 'forwarding chains through on-net middle hops (our line A forwards to our line B, which forwards abroad; every diverting line and the target are labelled) and loops behind a B2BUA that resets the redirection counter (A -> off-net B2BUA -> B -> B2BUA -> A ..., counter always 1, the same numbers repeating within one call)',
  entityKind: 'msisdn',
  params: [
    { name: 'chains', kind: 'int', default: 2, min: 0, max: 100, help: 'chains with on-net middle hops (one campaign each)', source: '[proposal]' },
    { name: 'hops', kind: 'int', default: 2, min: 2, max: 5, help: 'our lines in a chain (diverting lines; the last forwards abroad)', source: 'chains of 2-5 (ISUP counter max 5)' },
    { name: 'resetCounter', kind: 'bool', default: false, help: 'a B2BUA between the hops of a chain: every leg written with counter 1 and its own line as original called number', source: 'RFC 7332 (evasive variant, §5.2 S3)' },
    { name: 'loops', kind: 'int', default: 1, min: 0, max: 100, help: 'loops through an off-net B2BUA that resets the counter (one campaign each)', source: 'RFC 7332; FreeSWITCH max_forwards' },
    { name: 'roundsMax', kind: 'int', default: 12, min: 2, max: 100, help: 'most rounds a looping call makes before it is released', source: '[proposal]' },
    { name: 'callsPerCampaign', kind: 'int', default: 20, min: 1, max: 10_000, help: 'calls into each chain or loop', source: '[proposal]' },
    startParam('the second day 10:00 local'),
    { name: 'durationHours', kind: 'number', default: 24, min: 0.1, max: 2400, help: 'period over which the calls arrive', source: '[proposal]' },
    { name: 'destination', kind: 'string', default: 'high-risk', choices: ['high-risk', 'unlisted', 'international'], help: 'where the last hop of a chain forwards to', source: 'published cases' },
    { name: 'legMinutesMin', kind: 'number', default: 5, min: 0.1, help: 'shortest answered chain call, minutes', source: '[proposal]' },
    { name: 'legMinutesMax', kind: 'number', default: 30, min: 0.1, help: 'longest answered chain call, minutes', source: '[proposal]' },
  ],
  setup(ctx, p) {
    const pop = ctx.pop;
    const ok = (i: number) => activeLine(pop, i) && pop.kind[i] === LineKind.MOBILE;
    const hops = p.hops as number;
    const chains = Array.from({ length: p.chains as number }, () => pickLines(ctx, hops, ok)).filter((c) => c.length === hops);
    const loops = Array.from({ length: p.loops as number }, () => pickLines(ctx, 2, ok)).filter((c) => c.length === 2);
    const durMs = (p.durationHours as number) * HOUR_MS;
    const start = resolveStart(p.start as string, ctx, [nextLocal(ctx.startMs + 12 * HOUR_MS, null, 10 * 60), nextLocal(ctx.startMs, null, 10 * 60)], Math.min(durMs, 6 * HOUR_MS));
    const end = Math.min(ctx.endMs, start + durMs);
    const dests = chains.map((_, k) => new Destination(p.destination === 'international' ? null : pickRange(ctx.rng, p.destination as string), ctx.rng, hash2(pop.seed, 0xb2b0 + k)));
    // The off-net B2BUA of a loop: a fixed number of another operator at home [proposal].
    const peers = loops.map((_, k) => fixedNumber(ctx.rng.int(REGIONS.length), hash2(pop.seed, 0xb2b1 + k)));
    return (eng) => {
      const minMs = minutes(p.legMinutesMin as number);
      const maxMs = Math.max(minMs, minutes(p.legMinutesMax as number));
      chains.forEach((members, k) => {
        const dest = dests[k] as Destination;
        const target = dest.number(1);
        const campaign = `cf-b2bua-chain-${k + 1}`;
        const facts = { kind: 'chain', members: members.map((m) => pop.msisdn(m)), forwardedTo: target, range: dest.prefix };
        const labels = members.map((m) => eng.newLabel('cf-b2bua', campaign, 'diverting', 'msisdn', pop.msisdn(m), labelParams(p, facts)));
        const targetLabel = eng.newLabel('cf-b2bua', campaign, 'target', 'number', target, labelParams(p, facts));
        const legLabels = labels.map((l, j) => (j === labels.length - 1 ? mergeLabels(l, targetLabel) : l));
        eng.addActor(new ChainCalls(members, target, p.resetCounter as boolean, legLabels, start, end, p.callsPerCampaign as number, minMs, maxMs, hash2(pop.seed, 0xb2c0 + k)), start + k * 13 * MINUTE_MS);
      });
      loops.forEach((members, k) => {
        const peer = peers[k] as string;
        const campaign = `cf-b2bua-loop-${k + 1}`;
        const facts = { kind: 'loop', members: members.map((m) => pop.msisdn(m)), forwardedTo: peer };
        const labels = members.map((m) => eng.newLabel('cf-b2bua', campaign, 'diverting', 'msisdn', pop.msisdn(m), labelParams(p, facts)));
        const peerLabel = eng.newLabel('cf-b2bua', campaign, 'target', 'number', peer, labelParams(p, facts));
        const legLabels = labels.map((l, j) => (j === labels.length - 1 ? mergeLabels(l, peerLabel) : l));
        eng.addActor(new LoopCalls(members, peer, legLabels, start, end, p.callsPerCampaign as number, p.roundsMax as number, hash2(pop.seed, 0xb2d0 + k)), start + 7 * MINUTE_MS + k * 17 * MINUTE_MS);
      });
    };
  },
};

/** A VOICE_FWD leg of our line `line` to `to`, as the diverting switch writes it (CFU: no radio location). */
function forwardedLeg(eng: Engine, line: number, caller: string, to: string, toOnNet: boolean, original: string, counter: number, s: number, leg: Leg, label: LabelAcc): void {
  const r = eng.record(line, 'VOICE_FWD', s, leg.answer, Math.max(leg.release, s), null);
  r.callingNumber = caller;
  r.calledNumber = to;
  r.connectedNumber = leg.connected;
  r.originalCalledNumber = original;
  r.redirectingNumber = eng.pop.msisdn(line);
  r.redirectionReason = 'CFU';
  r.redirectionCounter = counter;
  r.disposition = leg.disposition;
  r.q850Cause = leg.q850;
  if (leg.answer === null) r.causeForTerm = 3;
  r.inTrunkGroup = eng.trunkFor(caller);
  r.outTrunkGroup = toOnNet ? null : eng.trunkFor(to);
  eng.emit(r, label);
}

/** Calls into the head of a chain: every hop writes its forwarded leg, the last one reaches the target abroad. */
class ChainCalls implements Actor {
  private made = 0;
  private readonly rng: Rng;
  constructor(
    private readonly members: number[],
    private readonly target: string,
    private readonly reset: boolean,
    private readonly labels: LabelAcc[],
    private readonly start: number,
    private readonly end: number,
    private readonly calls: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  step(now: number, eng: Engine): number {
    if (this.made >= this.calls || now >= this.end) return Infinity;
    const rng = this.rng;
    const pop = eng.pop;
    const caller = attackerNumber(this.seed, this.made % 4, this.made % 2 === 0);
    const n = this.members.length;
    const hopMs = 300 + rng.int(400);
    const leg = offnet(this.target, now + n * hopMs, Math.round(rng.range(this.minMs, this.maxMs)), rng, 0.95);
    const head = pop.msisdn(this.members[0] as number);
    this.members.forEach((m, j) => {
      const last = j === n - 1;
      const to = last ? this.target : pop.msisdn(this.members[j + 1] as number);
      // Downstream outcome: every leg of the call shares the far end's answer and release.
      forwardedLeg(eng, m, caller, to, !last, this.reset ? pop.msisdn(m) : head, this.reset ? 1 : j + 1, now + j * hopMs, leg, this.labels[j] as LabelAcc);
    });
    this.made++;
    return Math.max(now + 1000, now + Math.round(rng.exp((this.end - this.start) / this.calls)));
  }
}

/**
 * Calls into a loop A -> B2BUA -> B -> B2BUA -> A ...: each round writes A's leg and B's leg to the B2BUA,
 * both with counter 1 (reset) and their own number as original called number, the calling number kept. The
 * call is never answered: it ends when the caller hangs up or the peer runs out of resources.
 */
class LoopCalls implements Actor {
  private made = 0;
  private readonly rng: Rng;
  constructor(
    private readonly members: number[],
    private readonly peer: string,
    private readonly labels: LabelAcc[],
    private readonly start: number,
    private readonly end: number,
    private readonly calls: number,
    private readonly roundsMax: number,
    private readonly seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  step(now: number, eng: Engine): number {
    if (this.made >= this.calls || now >= this.end) return Infinity;
    const rng = this.rng;
    const pop = eng.pop;
    const [a, b] = this.members as [number, number];
    const caller = rng.chance(0.5) ? offnetMobile(hash2(this.seed, this.made)) : attackerNumber(this.seed, this.made % 3, false);
    const rounds = 2 + rng.int(this.roundsMax - 1);
    const roundMs = 600 + rng.int(900);
    const hangUp = now + rounds * roundMs + rng.int(2000);
    const exhausted = rng.chance(0.5);
    const released: Leg = { answer: null, release: hangUp, disposition: exhausted ? 'CONGESTION' : 'NO_ANSWER', q850: exhausted ? Q850.CONGESTION : Q850.NORMAL, connected: null };
    const aNum = pop.msisdn(a);
    const bNum = pop.msisdn(b);
    for (let k = 0; k < rounds; k++) {
      const t = now + k * roundMs;
      forwardedLeg(eng, a, caller, this.peer, false, aNum, 1, t, released, this.labels[0] as LabelAcc);
      forwardedLeg(eng, b, caller, this.peer, false, bNum, 1, t + 250 + rng.int(200), released, this.labels[1] as LabelAcc);
    }
    this.made++;
    return Math.max(hangUp + 1000, now + Math.round(rng.exp((this.end - this.start) / this.calls)));
  }
}
