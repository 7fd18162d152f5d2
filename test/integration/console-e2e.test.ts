import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { signActivation } from '../../src/server/budget/activation-keys';
import { systemClock } from '../../src/server/clock';
import { loadPrivateKey } from '../../src/server/license/vendor-keys';
import { parsePolicy, tokenSha256 } from '../../src/server/vendor/vendor-policy';
import { createVendorService, type VendorDecision, type VendorService } from '../../src/server/vendor/vendor-service';
import { findChromium, launchBrowser } from '../helpers/browser';
import { type LocalCluster, startLocalCluster } from '../../src/tools/local/local-cluster';
import { freePort } from '../../src/tools/local/ports';
import { eventually } from '../helpers/redis';

const SHOTS = path.join('test-output', 'console');
const CUSTOMER_TOKEN = 'e2e-customer-token-0123456789';
/** Long enough to watch it fall on the page, short enough to block within the test. */
const BUDGET_MS = 8_000;
/** The primary's console sessions end quickly, so the test can watch one expire. */
const PRIMARY_SESSION_MS = 10_000;

/**
 * The console end to end, in a real browser against a real node pair (Redis, gRPC, the
 * console servers) and a real vendor activation service: sign in (a wrong token first), both
 * nodes on the Cluster page, a planned step-down from the page, the budget falling on the
 * redundant's page until it blocks, a tampered key refused, "Request activation key" sent
 * automatically to the vendor, the node unblocked, and an expired session sent back to sign-in.
 */
describe(
  'web console end to end (real nodes, vendor service, Chromium)',
  { skip: findChromium() === undefined && !process.env['CI'] ? 'no chromium' : false },
  () => {
    let cluster: LocalCluster;
    let vendor: VendorService;
    let browser: Browser;
    let context: BrowserContext;
    const decisions: VendorDecision[] = [];
    const problems: string[] = [];

    before(async () => {
      mkdirSync(SHOTS, { recursive: true });
      // The vendor service's port first: the nodes are configured with its URL, and it signs
      // with the throwaway vendor key the cluster's license is made with.
      const vendorPort = await freePort();
      cluster = await startLocalCluster({
        clusterId: `e2e-console-${process.pid}`,
        startNodes: false,
        logFiles: true,
        failover: { budget_ms: BUDGET_MS },
        handbackAfterMs: 600_000,
        env: {
          LICENSE_VENDOR_ACTIVATION_URL: `http://127.0.0.1:${vendorPort}/v1/activations`,
          LICENSE_VENDOR_ACTIVATION_TOKEN: CUSTOMER_TOKEN,
          LICENSE_VENDOR_CONTACT: 'licensing@vendor.example',
        },
        roleEnv: { primary: { LICENSE_CONSOLE_SESSION_MS: String(PRIMARY_SESSION_MS) } },
      });
      vendor = createVendorService({
        privateKey: loadPrivateKey(cluster.license.privateKeyFile),
        policy: parsePolicy(
          `customers:\n  e2e:\n    token_sha256: "${tokenSha256(CUSTOMER_TOKEN)}"\n    clusters: [${cluster.clusterId}]\n    max_activations_per_episode: 3\n`,
        ),
        clock: systemClock,
        log: (d) => decisions.push(d),
      });
      await vendor.listen('127.0.0.1', vendorPort);
      cluster.primary.start();
      await cluster.primary.waitForState('ACTIVE', 30_000);
      cluster.redundant.start();
      await cluster.redundant.waitForState('STANDBY', 30_000);
      await eventually(async () => ((await cluster.admin('primary').getStatus()).peer?.reachable ? true : undefined), 20_000, 'peers');
      browser = await launchBrowser();
      context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    });

    after(async () => {
      await context?.close();
      await browser?.close();
      await cluster?.stop();
      await vendor?.close();
      if (cluster) rmSync(cluster.dir, { recursive: true, force: true });
    });

    const stateOf = async (role: 'primary' | 'redundant'): Promise<string> => (await cluster.admin(role).getStatus()).state;

    const consoleOf = (role: 'primary' | 'redundant'): string => cluster.consoleUrl[role];

    async function open(role: 'primary' | 'redundant'): Promise<Page> {
      const page = await context.newPage();
      page.on('pageerror', (e) => problems.push(`${role} page error: ${e.message}`));
      page.on('console', (m) => {
        // A 401/403 the test provokes is logged by Chromium as a failed resource; anything else is a problem.
        if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) problems.push(`${role} console: ${m.text()}`);
      });
      await page.goto(`${consoleOf(role)}/`);
      return page;
    }

    async function signIn(page: Page, token: string): Promise<void> {
      await page.getByTestId('signin-token').fill(token);
      await page.getByTestId('signin-submit').click();
    }

    const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });

    let primaryPage: Page;
    let redundantPage: Page;

    it("a wrong token is refused with the server's message; the right one shows both nodes, this one marked", async () => {
      const started = Date.now();
      primaryPage = await open('primary');
      await primaryPage.getByTestId('signin-token').waitFor();
      const signInShownMs = Date.now() - started;
      await signIn(primaryPage, 'not-the-admin-token-at-all');
      await primaryPage.getByTestId('signin-error').filter({ hasText: 'admin token rejected' }).waitFor();
      await shot(primaryPage, 'e2e-01-signin-wrong-token');

      const signInAt = Date.now();
      await signIn(primaryPage, cluster.token);
      await primaryPage.locator('[data-testid="node-card"][data-node-id="node-b"]').waitFor();
      const interactiveMs = Date.now() - signInAt;
      const cards = primaryPage.getByTestId('node-card');
      assert.equal(await cards.count(), 2);
      assert.equal(await primaryPage.locator('[data-testid="node-card"][data-this-node="true"]').getAttribute('data-node-id'), 'node-a');
      await primaryPage.getByTestId('redis-topology').filter({ hasText: 'single redis://127.0.0.1' }).waitFor();
      await shot(primaryPage, 'e2e-02-cluster-primary');

      // What a first load costs: every response's bytes on the wire, from a fresh page.
      const fresh = await context.newPage();
      let bytes = 0;
      let files = 0;
      fresh.on('response', (r) => {
        void r.body().then(
          (b) => {
            bytes += b.length;
            files++;
          },
          () => undefined,
        );
      });
      const loadAt = Date.now();
      await fresh.goto(`${consoleOf('primary')}/`);
      await fresh.locator('[data-testid="node-card"][data-node-id="node-b"]').waitFor();
      const loadMs = Date.now() - loadAt;
      await fresh.close();
      writeFileSync(
        path.join(SHOTS, 'e2e-first-load.json'),
        `${JSON.stringify({ signInShownMs, interactiveAfterSignInMs: interactiveMs, signedInReloadToClusterMs: loadMs, bytes, files }, null, 2)}\n`,
      );
    });

    it("the standby's console says so and links to the active one", async () => {
      redundantPage = await open('redundant');
      await signIn(redundantPage, cluster.token);
      const link = redundantPage.getByTestId('active-console-link');
      await link.waitFor();
      assert.equal((await link.getAttribute('href'))?.replace(/\/$/, ''), consoleOf('primary'));
      await shot(redundantPage, 'e2e-03-cluster-standby');
    });

    it('a planned step-down from the Tools menu asks first, then the redundant takes over', async () => {
      // A fresh sign-in: the primary's sessions are short (the last step watches one expire).
      await primaryPage.reload();
      const token = primaryPage.getByTestId('signin-token');
      if (
        await token.waitFor({ timeout: 3_000 }).then(
          () => true,
          () => false,
        )
      )
        await signIn(primaryPage, cluster.token);
      await primaryPage.getByTestId('tools-button').click();
      await primaryPage.getByTestId('step-down-button').click();
      await primaryPage.getByTestId('confirm-dialog').waitFor();
      await primaryPage.getByTestId('confirm-ok').click();
      await eventually(async () => ((await stateOf('redundant')) === 'NODE_STATE_FAILOVER_ACTIVE' ? true : undefined), 15_000, 'redundant active');
    });

    it("the redundant's budget falls on the page, then it blocks", async () => {
      await redundantPage.goto(`${consoleOf('redundant')}/#/budget`);
      const bar = redundantPage.getByTestId('budget-bar');
      await bar.waitFor();
      const level = async () => Number(await bar.getAttribute('aria-valuenow'));
      const first = await eventually(
        async () => {
          const v = await level();
          return v < 100 ? v : undefined;
        },
        10_000,
        'the budget starts falling',
      );
      await shot(redundantPage, 'e2e-04-budget-falling');
      await eventually(async () => ((await level()) < first ? true : undefined), 10_000, 'the budget keeps falling');
      await redundantPage.locator('[data-testid="budget-blocked"][data-blocked="true"]').waitFor({ timeout: 30_000 });
      await redundantPage.getByTestId('header-state').filter({ hasText: 'FAILOVER_BLOCKED' }).waitFor({ timeout: 10_000 });
      await shot(redundantPage, 'e2e-05-budget-blocked');
    });

    it("a tampered activation key is refused with the server's message, and nothing changes", async () => {
      const { request_key } = await cluster.admin('redundant').requestActivationKey();
      const { key } = signActivation(request_key, loadPrivateKey(cluster.license.privateKeyFile), { extensionMs: 60_000 });
      const [prefix, data, sig] = key.split('.') as [string, string, string];
      const grant = JSON.parse(Buffer.from(data, 'base64url').toString()) as Record<string, unknown>;
      const tampered = `${prefix}.${Buffer.from(JSON.stringify({ ...grant, granted_ms: 259_200_000 })).toString('base64url')}.${sig}`;
      await redundantPage.getByTestId('tools-button').click();
      await redundantPage.getByTestId('tool-input-key').click();
      await redundantPage.getByTestId('activation-key-input').fill(tampered);
      await redundantPage.getByTestId('activation-check').click();
      await redundantPage.getByTestId('activation-error').filter({ hasText: 'signature does not verify' }).waitFor();
      await shot(redundantPage, 'e2e-06-activation-tampered');
      assert.equal(await stateOf('redundant'), 'NODE_STATE_FAILOVER_BLOCKED');
      await redundantPage.keyboard.press('Escape');
    });

    it('"Request activation key" shows the key, sends it to the vendor service, and the node is unblocked', async () => {
      await redundantPage.getByTestId('tools-button').click();
      await redundantPage.getByTestId('tool-request-key').click();
      const key = redundantPage.getByTestId('request-key');
      await key.filter({ hasText: /^LRQ1\./ }).waitFor();
      assert.match(String(await redundantPage.getByTestId('mailto-vendor').getAttribute('href')), /^mailto:licensing@vendor\.example\?.*LRQ1\./);
      await shot(redundantPage, 'e2e-07-request-key');
      await redundantPage.getByTestId('send-request').click();
      await redundantPage.getByTestId('send-result').waitFor({ timeout: 20_000 });
      await shot(redundantPage, 'e2e-08-sent');
      await eventually(async () => ((await stateOf('redundant')) === 'NODE_STATE_FAILOVER_ACTIVE' ? true : undefined), 15_000, 'unblocked');
      await redundantPage.keyboard.press('Escape');
      await redundantPage.locator('[data-testid="budget-blocked"][data-blocked="false"]').waitFor({ timeout: 10_000 });
      await shot(redundantPage, 'e2e-09-unblocked');
      assert.deepEqual(
        decisions.map((d) => d.decision),
        ['granted'],
      );
    });

    it('an expired session goes back to sign-in and says why', async () => {
      await primaryPage
        .getByTestId('signin-message')
        .filter({ hasText: 'expired' })
        .waitFor({ timeout: PRIMARY_SESSION_MS + 15_000 });
      await shot(primaryPage, 'e2e-10-session-expired');
      assert.deepEqual(problems, []);
    });
  },
);
