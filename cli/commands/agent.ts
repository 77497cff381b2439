import type { CommandSpec } from '../../common/flags.js';
import { agentFlags, agentGroups, runAgentMain } from '../../agent/main.js';

export const spec: CommandSpec = {
  name: 'agent',
  summary: 'Run the node agent: read kernel drop lines from the journal and node facts, stream them to NATS.',
  details: `Needs no Kubernetes API access. Reads the systemd journal through journalctl (kernel
records by default), keeps its journal cursor and an on-disk spool under --state-dir so that a
restart or a NATS outage loses and repeats nothing.`,
  flags: agentFlags,
  groups: agentGroups,
  examples: [
    '# on a node, as the DaemonSet runs it',
    'nodewarden agent --nats nats://nodewarden-nats:4222 --nats-token-file /var/run/secrets/nats/token',
    '# readable logs, only two probes, container logs elsewhere',
    'nodewarden agent --log-format text --probes sysctl,conntrack --container-log-dir /srv/logs',
    '# read a copied journal instead of the system one, no runtime polling',
    'nodewarden agent --journal-dir /tmp/journal --runtime off --state-dir /tmp/nw',
  ],
};

export const run = runAgentMain;
