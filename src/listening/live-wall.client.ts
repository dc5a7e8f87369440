/// <reference lib="dom" />
// The live wall's island: listens to /api/v1/live and adds each item to the page as it arrives.
// EventSource reconnects by itself and sends Last-Event-ID, so a dropped connection misses nothing.
// Text is only ever set with textContent: nothing from a post is parsed as HTML.

// Types only: esbuild drops this import, so nothing of the server reaches the browser.
import type { LiveCard as Card, LiveMessage } from './live.ts';

type Message = Pick<LiveMessage, 'id' | 'type' | 'subject'> & { item?: Card };

const MAX_CARDS = 60;
const wall = document.getElementById('wall');
const feed = document.getElementById('feed');
const status = document.getElementById('wall-status');
const todayCount = document.getElementById('today-count');

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function clearEmpty(list: Element | null): void {
  list?.querySelector('.cv-empty')?.remove();
}

function time(iso: string): string {
  return new Date(iso).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
}

function cardFor(m: Message, c: Card): HTMLLIElement {
  const li = el('li', `cv-card cv-card--${c.kind} cv-card--new${c.negative ? ' cv-card--negative' : ''}${c.praise ? ' cv-card--praise' : ''}`);
  li.dataset.id = c.id;
  li.dataset.event = String(m.id);
  const bits = [c.kind[0]!.toUpperCase() + c.kind.slice(1)];
  if (c.kind === 'mention' && c.source) bits.push(c.source);
  if (c.services.length) bits.push(c.services.map((s) => s.name).join(', '));
  if (c.sentimentWord) bits.push(c.sentimentWord);
  const meta = el('p', 'cv-card__meta', `${bits.join(' · ')} · `);
  const t = el('time', '', time(c.at));
  t.dateTime = c.at;
  meta.append(t);
  const title = el('p', 'cv-card__title');
  const a = el('a', '', c.title);
  a.href = c.url;
  title.append(a);
  li.append(meta, title);
  if (c.text) li.append(el('p', 'cv-card__text', c.text));
  if (c.themes.length) li.append(el('p', 'cv-meta', c.themes.join(', ')));
  return li;
}

function addToList(listId: string, id: string, href: string, text: string): void {
  const list = document.getElementById(listId);
  if (!list) return;
  clearEmpty(list);
  list.querySelector(`[data-id="${CSS.escape(id)}"]`)?.remove();
  const li = el('li', 'cv-card--new');
  li.dataset.id = id;
  const a = el('a', '', text);
  a.href = href;
  li.append(a);
  list.prepend(li);
  while (list.children.length > 6) list.lastElementChild?.remove();
}

function bumpSentiment(sentiment: string | null): void {
  const band = sentiment === '1' || sentiment === '2' ? 'positive' : sentiment === '3' ? 'neutral' : sentiment === '4' || sentiment === '5' ? 'negative' : null;
  const groups = document.querySelectorAll<SVGGElement>('#sentiment-chart g[data-hour]');
  const last = groups[groups.length - 1];
  if (!band || !last) return;
  last.dataset[band] = String(Number(last.dataset[band] ?? 0) + 1);
  const peak = Math.max(Number(wall?.dataset.peak ?? 1), ...[...groups].map((g) => Number(g.dataset.positive) + Number(g.dataset.neutral) + Number(g.dataset.negative)));
  if (wall) wall.dataset.peak = String(peak);
  for (const g of groups) {
    let y = 104;
    for (const b of ['positive', 'neutral', 'negative'] as const) {
      const rect = g.querySelector<SVGRectElement>(`.cv-bar--${b}`);
      const h = Math.round((Number(g.dataset[b]) / peak) * 100);
      y -= h;
      rect?.setAttribute('height', String(h));
      rect?.setAttribute('y', String(y));
    }
  }
}

function handle(m: Message): void {
  if (!feed) return;
  if (m.type === 'mention.deleted') {
    for (const node of document.querySelectorAll(`[data-id="${CSS.escape(m.subject ?? '')}"]`)) node.remove();
    return;
  }
  const c = m.item;
  if (!c) return;
  if (c.kind === 'hotspot') addToList('hotspot-list', c.id, c.url, c.title);
  if (c.praise && c.services[0]) addToList('praise-list', c.id, c.url, `${c.services[0].name}: “${c.text}”`);
  if (m.type === 'mention.updated') feed.querySelector(`[data-id="${CSS.escape(c.id)}"]`)?.remove();
  clearEmpty(feed);
  feed.prepend(cardFor(m, c));
  while (feed.children.length > MAX_CARDS) feed.lastElementChild?.remove();
  if (m.type === 'story.published' || m.type === 'mention.received') {
    if (todayCount) todayCount.textContent = String(Number(todayCount.textContent) + 1);
    bumpSentiment(c.sentiment);
  }
}

if (wall && feed && 'EventSource' in window) {
  const source = new EventSource(wall.dataset.stream ?? '/api/v1/live');
  const say = (text: string) => {
    if (status) status.textContent = text;
  };
  source.onopen = () => say('Live: new items appear as they arrive.');
  source.onerror = () => say('Connection lost; reconnecting without missing anything…');
  for (const type of ['story.published', 'response.published', 'mention.received', 'mention.updated', 'mention.deleted', 'hotspot.detected']) {
    source.addEventListener(type, (e) => handle(JSON.parse((e as MessageEvent<string>).data) as Message));
  }
  wall.dataset.live = 'on';
}
