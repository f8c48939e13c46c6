// Playwright's global setup: inside the test namespace, the NAT tests' public network is made
// before any browser starts (test/harness/nat.ts says why), and removed at the end.
import { inNetns } from '../../scripts/netns';
import { buildPublicNetwork } from './nat';

export default async function globalSetup(): Promise<(() => void) | undefined> {
  if (!inNetns()) return undefined;
  const pub = await buildPublicNetwork();
  return () => pub.stop();
}
