// The annotation keys the reboot agent reads and writes on Nodes, under bosun's prefix. They sit
// here for now because bosun's other keys are moving from src/drain/annotations.ts to
// src/kube/annotations.ts in a parallel change; once that lands, these join them there (one
// constants module for every key, Kured's KuredNodeLockAnnotation pattern). Pure: constants only.

/** The prefix of every annotation and label bosun owns (the same as drain's BOSUN_PREFIX). */
const PREFIX = 'bosun.dev/';

/**
 * The reboot agent's state on its node, JSON (states.ts RebootRecord): the state, since when, why,
 * whether bosun's cordon and the lock are held, the boot ID before the reboot. Written before each
 * step, so that it survives the agent's own restart across the reboot and `bosun reboot status`
 * can read it from any machine.
 */
export const REBOOT_STATE = `${PREFIX}reboot`;

/**
 * Set by an admin (any value; the value is shown as the reason) to keep the agent from rebooting
 * this node. `kubectl annotate node worker-1 bosun.dev/reboot-blocked="database migration"`. The
 * value "false" counts as absent.
 */
export const REBOOT_BLOCKED = `${PREFIX}reboot-blocked`;
