/**
 * Facts about browser engines that the transports cannot learn from a response, in one place.
 *
 * [webkit] A socket destroyed mid-response ends WebKitGTK's fetch body reader with a clean `done`
 * (seen with WebKitGTK 2.50 / libsoup), where Chromium and Firefox reject the read with a network
 * error. A chunked response hides its terminator from page code, so there a cut between events
 * cannot be told from the server's end. Safari shares WebKit's fetch code above the network layer
 * and has not been tested here: it is treated the same way.
 */
export function cleanEndMayBeACut(userAgent = globalThis.navigator?.userAgent ?? ''): boolean {
  // WebKit engines say AppleWebKit; Chromium-based browsers say it too, with Chrome/ (Edge and Opera
  // included). Every iOS browser is WebKit, so CriOS (Chrome for iOS) is not excluded.
  return /AppleWebKit\//.test(userAgent) && !/(Chrome|Chromium)\//.test(userAgent)
}
