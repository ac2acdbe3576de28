/**
 * A sample machine module: a small hydraulic press, domain `press1` by default. It simulates a
 * few live variables, broadcasts them several times a second, and serves commands with input
 * validation, the way a real driver module would.
 */
import { BaseModuleHandler, IpcError, type BroadcastSender, type RouteContext } from 'autocore-ipc';

/** The live state of the simulated press. */
export interface PressState {
  running: boolean;
  /** Setpoint, rpm. */
  targetRpm: number;
  /** Actual speed, rpm; follows the setpoint with some inertia. */
  rpm: number;
  /** Hydraulic pressure, bar. */
  pressure: number;
  /** Oil temperature, degrees C. */
  temperature: number;
  /** Strokes completed. */
  cycles: number;
}

/** Highest speed setpoint the press accepts, rpm. */
export const MAX_RPM = 3000;

/**
 * The press as a ModuleHandler: `start`, `stop`, `set_speed {rpm}`, `status`, `reset`,
 * plus `get_catalog` from BaseModuleHandler.
 *
 * @example
 * ```ts
 * const press = new PressModule('press1');
 * const client = await IpcClient.connect(tcpConnector('127.0.0.1:9100'), press);
 * press.startSimulation(client.broadcastSender());
 * ```
 */
export class PressModule extends BaseModuleHandler {
  readonly state: PressState = {
    running: false,
    targetRpm: 0,
    rpm: 0,
    pressure: 0,
    temperature: 21,
    cycles: 0,
  };
  private timer: ReturnType<typeof setInterval> | undefined;
  private strokePhase = 0;

  constructor(name = 'press1') {
    super(name);
    const t = (fn: string): string => `${name}.${fn}`;
    this.route(t('start'), () => {
      if (this.state.targetRpm === 0) this.state.targetRpm = 600;
      this.state.running = true;
      return this.status();
    });
    this.route(t('stop'), () => {
      this.state.running = false;
      return this.status();
    });
    this.route(t('set_speed'), (ctx) => this.setSpeed(ctx));
    this.route(t('status'), () => this.status());
    this.route(t('reset'), () => {
      this.state.cycles = 0;
      return this.status();
    });
    for (const v of ['rpm', 'pressure', 'temperature', 'cycles', 'running']) this.registerFqdn(t(v));
  }

  private setSpeed({ message }: RouteContext): PressState {
    const data = message.data as { rpm?: unknown } | null;
    const rpm = typeof data === 'object' && data !== null ? data.rpm : undefined;
    if (typeof rpm !== 'number' || !Number.isFinite(rpm)) {
      throw new IpcError('ERR_INVALID_ARGUMENT', 'set_speed needs {"rpm": <number>}');
    }
    if (rpm < 0 || rpm > MAX_RPM) {
      throw new IpcError('ERR_INVALID_ARGUMENT', `rpm must be between 0 and ${MAX_RPM}, got ${rpm}`);
    }
    this.state.targetRpm = rpm;
    return this.status();
  }

  status(): PressState {
    return { ...this.state };
  }

  /** Advances the simulation by `dt` seconds. */
  step(dt: number): void {
    const s = this.state;
    const target = s.running ? s.targetRpm : 0;
    s.rpm += (target - s.rpm) * Math.min(1, dt * 2);
    if (Math.abs(target - s.rpm) < 0.5) s.rpm = target;
    if (s.rpm > 0) {
      this.strokePhase += (s.rpm / 60) * dt;
      while (this.strokePhase >= 1) {
        this.strokePhase -= 1;
        s.cycles++;
      }
    }
    const load = Math.sin(this.strokePhase * Math.PI * 2);
    s.pressure = s.rpm > 0 ? 80 + 60 * Math.max(0, load) + Math.random() * 2 : 0;
    const heat = 21 + (s.rpm / MAX_RPM) * 40;
    s.temperature += (heat - s.temperature) * dt * 0.05;
  }

  /** Runs the simulation and broadcasts every variable `rateHz` times a second. */
  startSimulation(sender: BroadcastSender, rateHz = 10): void {
    this.stopSimulation();
    const dt = 1 / rateHz;
    this.timer = setInterval(() => {
      this.step(dt);
      const s = this.state;
      const n = this.domain;
      sender.trySend(`${n}.rpm`, Math.round(s.rpm * 10) / 10);
      sender.trySend(`${n}.pressure`, Math.round(s.pressure * 10) / 10);
      sender.trySend(`${n}.temperature`, Math.round(s.temperature * 100) / 100);
      sender.trySend(`${n}.cycles`, s.cycles);
      sender.trySend(`${n}.running`, s.running);
    }, 1000 / rateHz);
    (this.timer as { unref?: () => void }).unref?.();
  }

  stopSimulation(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  onFinalize(): void {
    this.stopSimulation();
  }
}
