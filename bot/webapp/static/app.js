// The gallery page: the user's videos, newest first, loaded a page at a time as the list scrolls.
//
// Telegram hands the page its launch parameters in the URL fragment (#tgWebAppData=...&tgWebAppThemeParams=...)
// and telegram-web-app.js exposes them as window.Telegram.WebApp. Without that script (no network, a test
// browser) the page reads the same fragment itself. Every API call carries initData as
// "Authorization: tma <initData>"; the server checks it and answers in the user's stored language, so
// every word the page shows comes from the server (formatted there, plurals included).
"use strict";

(() => {
  const REFRESH_MS = 10000; // how often cards of videos in progress are read again
  const TOAST_MS = 4000;

  const webApp = window.Telegram && window.Telegram.WebApp ? window.Telegram.WebApp : null;
  const launch = new URLSearchParams(window.location.hash.slice(1));
  const initData = (webApp && webApp.initData) || launch.get("tgWebAppData") || "";
  const inTelegram = Boolean(webApp && webApp.initData);

  const state = { texts: {}, next: null, done: false, loading: false, ids: new Set(), refresh: null };
  const $ = (id) => document.getElementById(id);

  class Unauthorized extends Error {}

  // ------------------------------------------------------------------ Telegram's theme and language

  function themeParams() {
    if (webApp && webApp.themeParams && Object.keys(webApp.themeParams).length) {
      return webApp.themeParams;
    }
    try {
      return JSON.parse(launch.get("tgWebAppThemeParams") || "{}") || {};
    } catch (_) {
      return {};
    }
  }

  function applyTheme() {
    const style = document.documentElement.style;
    for (const [key, value] of Object.entries(themeParams())) {
      if (typeof value === "string" && /^#[0-9a-fA-F]{3,8}$/.test(value)) {
        style.setProperty("--tg-theme-" + key.replace(/_/g, "-"), value);
      }
    }
  }

  /** Telegram's language of the user, unchecked: only to say in which words the session is refused. */
  function guessedLanguage() {
    try {
      const user = JSON.parse(new URLSearchParams(initData).get("user") || "{}");
      if (user && typeof user.language_code === "string") return user.language_code;
    } catch (_) {
      // not JSON: fall through
    }
    return navigator.language || "";
  }

  function useTexts(lang, texts) {
    state.texts = texts || {};
    document.documentElement.lang = lang || "en";
    document.title = state.texts.title || document.title;
    $("title").textContent = state.texts.title || "";
  }

  // ------------------------------------------------------------------ the API

  async function call(method, path, body) {
    const headers = { Authorization: "tma " + initData };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch("api/" + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    let data = {};
    try {
      data = await response.json();
    } catch (_) {
      data = {};
    }
    if (response.status === 401) throw new Unauthorized();
    return { ok: response.ok, status: response.status, data };
  }

  function randomKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // ------------------------------------------------------------------ building blocks

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function button(label, className, onClick) {
    const node = el("button", "button" + (className ? " " + className : ""), label);
    node.type = "button";
    node.addEventListener("click", () => onClick(node));
    return node;
  }

  function toast(message) {
    const node = $("toast");
    node.textContent = message || state.texts.error || "";
    node.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => {
      node.hidden = true;
    }, TOAST_MS);
  }

  function haptic(kind) {
    try {
      if (inTelegram && webApp.HapticFeedback) webApp.HapticFeedback.notificationOccurred(kind);
    } catch (_) {
      // an older client without haptics
    }
  }

  function setBalance(text) {
    $("balance").textContent = text || "";
  }

  // ------------------------------------------------------------------ cards

  function card(item) {
    const article = el("article", "card");
    article.dataset.id = item.id;
    article.dataset.state = item.state;

    const media = el("div", "media");
    if (item.video) {
      const video = el("video");
      video.controls = true;
      video.preload = "metadata";
      video.playsInline = true;
      video.setAttribute("playsinline", "");
      video.src = item.video;
      media.append(video);
    } else {
      media.classList.add("empty");
      const symbol = { progress: "⏳", failed: "⚠️", cancelled: "✖", expired: "🗄" }[item.state] || "🎬";
      media.append(el("span", "placeholder", symbol));
    }
    article.append(media);

    const body = el("div", "body");
    const meta = el("div", "meta");
    meta.append(el("span", "badge badge-" + item.state, item.badge));
    meta.append(el("span", "when", item.model + " · " + item.date));
    body.append(meta);

    if (item.state === "progress") {
      const progress = el("div", "progress");
      const bar = el("div", "bar");
      const fill = el("div", "fill");
      if (typeof item.progress === "number") {
        fill.style.width = Math.max(0, Math.min(100, item.progress)) + "%";
        progress.append(bar, el("span", "percent", item.progress + "%"));
      } else {
        fill.classList.add("unknown");
        progress.append(bar);
      }
      bar.append(fill);
      body.append(progress);
    }
    if (item.prompt) body.append(el("p", "prompt", item.prompt));
    if (item.detail) body.append(el("p", "detail", item.detail));

    const actions = el("div", "actions");
    if (item.canSend) actions.append(button(state.texts.send, "send", (node) => send(item, node)));
    if (item.regenerate) {
      actions.append(button(state.texts.regenerate, "regenerate", (node) => regenerate(item, node)));
    }
    if (item.canDelete) actions.append(button(state.texts.delete, "danger delete", () => remove(item)));
    if (actions.childElementCount) body.append(actions);

    article.append(body);
    return article;
  }

  function append(item) {
    if (state.ids.has(item.id)) return;
    state.ids.add(item.id);
    $("list").append(card(item));
  }

  function prepend(item) {
    if (state.ids.has(item.id)) return replace(item);
    state.ids.add(item.id);
    $("list").prepend(card(item));
    showList();
  }

  function replace(item) {
    const old = document.querySelector(`.card[data-id="${item.id}"]`);
    if (old) old.replaceWith(card(item));
  }

  function drop(id) {
    const old = document.querySelector(`.card[data-id="${id}"]`);
    if (old) old.remove();
    state.ids.delete(id);
    showList();
  }

  // ------------------------------------------------------------------ page states

  function notice(text, actionLabel, onAction) {
    $("notice-text").textContent = text || "";
    const action = $("notice-action");
    action.hidden = !actionLabel;
    action.textContent = actionLabel || "";
    action.onclick = onAction || null;
    $("notice").hidden = false;
  }

  function showList() {
    const empty = state.done && state.ids.size === 0;
    $("list").hidden = false;
    $("end").hidden = !(state.done && state.ids.size > 0);
    $("end").textContent = state.texts.end || "";
    if (empty) {
      notice(state.texts.empty, state.texts.generate, offerGenerate);
    } else {
      $("notice").hidden = true;
    }
    document.body.dataset.more = state.done ? "no" : "yes";
    document.body.dataset.state = empty ? "empty" : "ready";
    scheduleRefresh();
  }

  async function unauthorized() {
    document.body.dataset.state = "unauthorized";
    clearTimeout(state.refresh);
    $("list").hidden = true;
    $("end").hidden = true;
    if (!state.texts.unauthorized) {
      try {
        const response = await fetch("api/texts?lang=" + encodeURIComponent(guessedLanguage()));
        const data = await response.json();
        useTexts(data.lang, data.texts);
      } catch (_) {
        // no words at all: the symbol alone
      }
    }
    notice("🔒 " + (state.texts.unauthorized || ""));
  }

  function failed(error) {
    if (error instanceof Unauthorized) return unauthorized();
    if (state.ids.size) {
      toast(state.texts.error);
      return undefined;
    }
    document.body.dataset.state = "error";
    notice("⚠️ " + (state.texts.error || ""), state.texts.retry || "↻", () => window.location.reload());
    return undefined;
  }

  // ------------------------------------------------------------------ loading, a page at a time

  function nearBottom() {
    return $("sentinel").getBoundingClientRect().top < window.innerHeight + 300;
  }

  async function loadMore() {
    if (state.loading || state.done) return;
    state.loading = true;
    document.body.dataset.loading = "yes";
    try {
      const query = state.next ? "?before=" + encodeURIComponent(state.next) : "";
      const response = await call("GET", "generations" + query);
      if (!response.ok) throw new Error("HTTP " + response.status);
      for (const item of response.data.items) append(item);
      state.next = response.data.next;
      state.done = !state.next;
    } finally {
      state.loading = false;
      document.body.dataset.loading = "no";
    }
    showList();
    if (!state.done && nearBottom()) await loadMore();
  }

  function scheduleRefresh() {
    if (state.refresh || !document.querySelector('.card[data-state="progress"]')) return;
    state.refresh = setTimeout(async () => {
      state.refresh = null;
      try {
        for (const node of document.querySelectorAll('.card[data-state="progress"]')) {
          const response = await call("GET", "generations/" + node.dataset.id);
          if (response.ok) replace(response.data.item);
          else if (response.status === 404) drop(node.dataset.id);
        }
      } catch (error) {
        if (error instanceof Unauthorized) return unauthorized();
      }
      scheduleRefresh();
      return undefined;
    }, REFRESH_MS);
  }

  // ------------------------------------------------------------------ the confirmation sheet

  function confirmSheet(text, confirmLabel, confirmClass, cancelLabel, onConfirm) {
    const sheet = $("sheet");
    const confirm = $("sheet-confirm");
    $("sheet-text").textContent = text;
    confirm.textContent = confirmLabel;
    confirm.className = "button " + confirmClass;
    confirm.disabled = false;
    $("sheet-cancel").textContent = cancelLabel;
    const close = () => {
      sheet.hidden = true;
      confirm.onclick = null;
    };
    for (const node of sheet.querySelectorAll("[data-close]")) node.onclick = close;
    confirm.onclick = async () => {
      confirm.disabled = true; // one tap, one request; the server's key covers a retry as well
      try {
        await onConfirm();
      } catch (error) {
        failed(error);
      }
      close();
    };
    sheet.hidden = false;
  }

  // ------------------------------------------------------------------ actions

  async function send(item, node) {
    node.disabled = true;
    try {
      const response = await call("POST", `generations/${item.id}/send`);
      toast(response.data.message);
      if (response.ok) haptic("success");
    } catch (error) {
      failed(error);
    } finally {
      node.disabled = false;
    }
  }

  async function regenerate(item, node) {
    node.disabled = true;
    let quote;
    try {
      quote = await call("GET", `generations/${item.id}/quote`);
    } catch (error) {
      node.disabled = false;
      failed(error);
      return;
    }
    node.disabled = false;
    if (!quote.ok) {
      toast(quote.data.message);
      return;
    }
    const key = randomKey(); // this confirmation's order: however often it is sent, one debit
    confirmSheet(quote.data.text, quote.data.button, "primary", state.texts.cancel, async () => {
      const response = await call("POST", `generations/${item.id}/regenerate`, {
        key,
        price: quote.data.price,
      });
      if (response.ok) {
        prepend(response.data.item);
        setBalance(response.data.balance);
        haptic("success");
        window.scrollTo({ top: 0, behavior: "smooth" });
      }
      toast(response.data.message);
    });
  }

  function remove(item) {
    confirmSheet(state.texts.deleteConfirm, state.texts.deleteYes, "danger", state.texts.deleteNo, async () => {
      const response = await call("DELETE", `generations/${item.id}`);
      if (response.ok || response.status === 404) drop(item.id);
      toast(response.data.message);
    });
  }

  async function offerGenerate() {
    try {
      const response = await call("POST", "generate");
      toast(response.data.message);
      if (response.ok && inTelegram) webApp.close(); // back to the chat, where the button is
    } catch (error) {
      failed(error);
    }
  }

  // ------------------------------------------------------------------ start

  async function start() {
    applyTheme();
    if (webApp) {
      try {
        webApp.ready();
        webApp.expand();
        webApp.onEvent("themeChanged", applyTheme);
      } catch (_) {
        // outside Telegram the script has nothing to talk to
      }
    }
    try {
      const me = await call("GET", "me");
      if (!me.ok) throw new Error("HTTP " + me.status);
      useTexts(me.data.lang, me.data.texts);
      setBalance(me.data.balance);
      await loadMore();
      new IntersectionObserver(
        (entries) => {
          if (entries.some((entry) => entry.isIntersecting)) loadMore().catch(failed);
        },
        { rootMargin: "300px" },
      ).observe($("sentinel"));
    } catch (error) {
      await failed(error);
    }
  }

  start();
})();
