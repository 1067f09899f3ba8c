// Drives the dashboard in Chromium: sign in, open an application, page through its messages,
// open its failing endpoint, see the failed attempts, press Resend, and see the new attempt
// arrive; then check that the API reference at /docs renders.
//
// Environment: HOOKLINE_URL, HOOKLINE_TOKEN, APP_NAME, ENDPOINT_URL, MESSAGES (how many the
// application has, more than one page of 25), SCREENSHOT (a .png path), CHROMIUM (default
// /usr/bin/chromium). Exits non-zero with a message on any failure,
// including a console error on the page (a CSP violation, a script error).
import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const base = env("HOOKLINE_URL");
const token = env("HOOKLINE_TOKEN");
const appName = env("APP_NAME");
const endpointUrl = env("ENDPOINT_URL");
const screenshot = env("SCREENSHOT");
const messages = Number(env("MESSAGES"));

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(15000);
  page.on("console", (msg) => { if (msg.type() === "error") problems.push(`console: ${msg.text()}`); });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));

  await page.goto(`${base}/ui`);
  await page.fill("#token", "not-a-valid-token");
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#login-error:not([hidden])");
  // The 401 of the refused token is expected; forget it.
  problems.length = 0;

  await page.fill("#token", token);
  await page.click("#login button[type=submit]");
  await page.click(`text=${appName}`);

  // The first page of messages, then the rest behind "Show more", which goes away at the end.
  const messageRows = page.locator("tr[data-message]");
  await messageRows.first().waitFor();
  const firstPage = await messageRows.count();
  if (firstPage !== 25) throw new Error(`expected a first page of 25 messages, saw ${firstPage}`);
  await page.locator("[data-testid=more]:visible").click();
  await page.waitForFunction((n) => document.querySelectorAll("tr[data-message]").length === n, messages);
  await page.locator("[data-testid=more]:visible").waitFor({ state: "detached" });
  const distinct = new Set(await messageRows.evaluateAll((rows) => rows.map((r) => r.dataset.message)));
  if (distinct.size !== messages) throw new Error(`expected ${messages} distinct messages, saw ${distinct.size}`);

  const row = page.locator("tr[data-endpoint]", { hasText: endpointUrl });
  await row.locator("[data-testid=breaker]").waitFor();
  await row.locator("a").click();

  const attempts = page.locator("tr[data-attempt]");
  await attempts.first().waitFor();
  const before = await attempts.count();
  const failed = await page.locator("tr[data-attempt] .pill.bad").count();
  if (failed === 0 || failed !== before) {
    throw new Error(`expected only failed attempts before resending, saw ${failed} failed of ${before}`);
  }
  if (!(await page.locator("tr[data-attempt] pre.response", { hasText: "reply 500" }).count())) {
    throw new Error("the receiver's response body is not shown");
  }

  await attempts.first().locator("[data-testid=resend]").click();
  await page.waitForFunction((n) => document.querySelectorAll("tr[data-attempt]").length > n, before);
  const after = await attempts.count();
  const succeeded = await page.locator("tr[data-attempt] .pill.ok").count();
  if (succeeded !== 1) throw new Error(`expected one successful attempt after resending, saw ${succeeded}`);

  await page.screenshot({ path: screenshot, fullPage: true });

  // The API reference renders the server's own document.
  await page.goto(`${base}/docs`);
  await page.locator("section.op#v1\\.message\\.create").waitFor();
  const operations = await page.locator("section.op").count();
  if (operations < 40) throw new Error(`the reference shows only ${operations} operations`);
  if (problems.length) throw new Error(problems.join("\n"));
  console.log(JSON.stringify({ firstPage, messages: distinct.size, before, after, succeeded, operations, screenshot }));
} finally {
  await browser.close();
}
