/**
 * The autocore-ipc web console: connects this tab to an IPC server through the WebSocket bridge,
 * registers it as a module, and shows modules, requests, live values and every message on the
 * wire. Configuration comes from `/config.json` (served by `npm start`), else from a form.
 */
import './style.css';
import {
  DEFAULT_NAME_PATTERN,
  loadConfig,
  nameFromPattern,
  rememberedSettings,
  type ConnectSettings,
} from './config.ts';
import { h } from './dom.ts';
import { Connection } from './connection.ts';
import { ConnectionPanel } from './panels/connection-panel.ts';
import { LiveValuesPanel } from './panels/live-values-panel.ts';
import { ModulesPanel } from './panels/modules-panel.ts';
import { RequestPanel } from './panels/request-panel.ts';
import { TapPanel } from './panels/tap-panel.ts';
import { TopicList } from './topic-list.ts';

async function main(root: HTMLElement): Promise<void> {
  const config = await loadConfig();
  const connection = new Connection();
  const topics = new TopicList();
  const remembered = rememberedSettings();
  const namePatterns = config?.moduleNames ?? [];
  const settings: ConnectSettings = config
    ? {
        url: config.bridgeUrl,
        token: config.token ?? '',
        name: nameFromPattern(config.moduleNames[0] ?? DEFAULT_NAME_PATTERN),
      }
    : remembered;

  const header = new ConnectionPanel(connection, settings, namePatterns);
  const modules = new ModulesPanel(connection, topics);
  const request = new RequestPanel(connection, topics);
  const live = new LiveValuesPanel(connection);
  const tap = new TapPanel(connection);
  modules.onPick = (topic) => request.useTopic(topic);

  root.replaceChildren(
    header.element,
    h('main', { class: 'grid' }, modules.element, request.element, live.element, tap.element),
    topics.element,
  );

  if (config) void connection.connect(settings);
  else header.showForm(true);
}

const root = document.getElementById('app');
if (root) void main(root);
